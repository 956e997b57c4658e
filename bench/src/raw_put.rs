//! The baseline of the upload benchmark: a plain HTTP server, in its own
//! process, that writes each PUT body to a file with nothing else on the way
//! (no hashing, no parts, no database).

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, ensure};

/// `tributary-bench raw-put-server DIR`: serves PUTs into DIR, one
/// connection at a time; prints its port first.
pub fn serve(dir: &Path) -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    println!("{}", listener.local_addr()?.port());
    std::io::stdout().flush()?;
    for (n, stream) in listener.incoming().enumerate() {
        if let Err(e) = handle(stream?, &dir.join(format!("put-{n}"))) {
            eprintln!("raw PUT: {e:#}");
        }
    }
    Ok(())
}

fn handle(stream: TcpStream, path: &PathBuf) -> anyhow::Result<()> {
    let mut reader = BufReader::with_capacity(256 * 1024, stream.try_clone()?);
    let mut length = None;
    loop {
        let mut line = String::new();
        ensure!(
            reader.read_line(&mut line)? > 0,
            "connection closed in the head"
        );
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = Some(value.trim().parse::<u64>()?);
        }
    }
    let length = length.context("no Content-Length")?;
    let mut file = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let copied = std::io::copy(&mut reader.by_ref().take(length), &mut file)?;
    ensure!(copied == length, "body cut short");
    file.into_inner()?.sync_all()?;
    let mut stream = stream;
    stream.write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")?;
    std::fs::remove_file(path)?;
    Ok(())
}

/// The baseline server process.
pub struct Server {
    child: Child,
    port: u16,
}

impl Server {
    pub fn start(dir: &Path) -> anyhow::Result<Server> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("raw-put-server")
            .arg(dir)
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let port = line.trim().parse().context("the raw PUT server's port")?;
        Ok(Server { child, port })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// PUTs the file, streamed.
    pub async fn put(&self, file: &Path) -> anyhow::Result<()> {
        let size = std::fs::metadata(file)?.len();
        let response = reqwest::Client::new()
            .put(format!("http://127.0.0.1:{}/upload", self.port))
            .header("Content-Length", size.to_string())
            .body(crate::upload::file_body(file, 0, size).await?)
            .send()
            .await?;
        ensure!(response.status() == 201, "raw PUT: {}", response.status());
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
