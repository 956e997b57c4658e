//! Where the S3 store's objects live and how its client talks to them.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use crate::DEFAULT_PART_SIZE;
use crate::error::{Result, StorageError};

/// S3's smallest part, the last excepted: 5 MiB.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// S3's largest part: 5 GiB.
const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// Attempts per request, the first included, on 5xx answers, throttling,
/// timeouts and broken connections; the SDK waits with exponential backoff
/// and jitter between them.
const MAX_ATTEMPTS: u32 = 5;
const INITIAL_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(20);

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// From the request's start to the response's headers: a whole part upload
/// fits in it (50 MiB at 200 KiB/s), a server that stopped answering does
/// not.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(300);

/// An S3 bucket. Credentials come from the standard AWS chain: the
/// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` variables, then the profile
/// files (`AWS_PROFILE`), web identity, ECS and EC2 instance metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    /// An S3-compatible server (`http://127.0.0.1:9000`); None for AWS.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    /// `endpoint/bucket/key` URLs instead of `bucket.endpoint/key`, as most
    /// S3-compatible servers want.
    pub path_style: bool,
    /// The size of the parts of multipart uploads, 5 MiB to 5 GiB.
    pub part_size: u64,
}

impl S3Config {
    /// A bucket on AWS in us-east-1 with 50 MiB parts.
    pub fn new(bucket: impl Into<String>) -> S3Config {
        S3Config {
            endpoint: None,
            region: "us-east-1".into(),
            bucket: bucket.into(),
            path_style: false,
            part_size: DEFAULT_PART_SIZE,
        }
    }

    pub(super) fn check(&self) -> Result<()> {
        if self.bucket.is_empty() {
            return Err(StorageError::Config("the S3 bucket is not set".into()));
        }
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&self.part_size) {
            return Err(StorageError::Config(format!(
                "the S3 part size must be from 5 MiB to 5 GiB, not {} bytes",
                self.part_size
            )));
        }
        Ok(())
    }

    pub(super) async fn client(&self) -> Client {
        // One HTTPS client (rustls on ring) for S3 and for the credential
        // providers that ask a server (instance metadata, STS).
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let shared = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client)
            .region(Region::new(self.region.clone()))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(MAX_ATTEMPTS)
                    .with_initial_backoff(INITIAL_BACKOFF)
                    .with_max_backoff(MAX_BACKOFF),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .read_timeout(RESPONSE_TIMEOUT)
                    .build(),
            )
            .load()
            .await;
        let mut config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(self.path_style)
            // Checksums only where S3 demands them (DeleteObjects): many
            // S3-compatible servers reject the SDK's default trailers.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = &self.endpoint {
            config = config.endpoint_url(endpoint);
        }
        Client::from_conf(config.build())
    }
}
