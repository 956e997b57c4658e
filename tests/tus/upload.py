"""Uploads a file with tuspy, for tests/tus_clients.rs.

    python3 upload.py --endpoint URL --file PATH --state PATH [--chunk-size BYTES]
                      [--stop-after BYTES] [--retries N] [--retry-delay SECONDS]

The upload URL is kept in --state (tuspy's FileStorage): a second run with
the same state resumes the upload the first one left. Prints JSON lines:
{"upload_url", "offset"} when it resumes one, and last {"offset",
"upload_url", "complete"}, or {"error"} (exit status 1).
"""

import argparse
import json
import os
import sys

from tusclient.client import TusClient
from tusclient.exceptions import TusCommunicationError
from tusclient.storage.filestorage import FileStorage


def say(**line):
    print(json.dumps(line), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--file", required=True)
    parser.add_argument("--state", required=True)
    parser.add_argument("--chunk-size", type=int, default=1 << 20)
    parser.add_argument("--stop-after", type=int)
    parser.add_argument("--retries", type=int, default=0)
    parser.add_argument("--retry-delay", type=float, default=0)
    args = parser.parse_args()

    # A stored URL is looked up (and its offset asked with HEAD) right here.
    uploader = TusClient(args.endpoint).uploader(
        file_path=args.file,
        chunk_size=args.chunk_size,
        metadata={"filename": os.path.basename(args.file)},
        store_url=True,
        url_storage=FileStorage(args.state),
        retries=args.retries,
        retry_delay=args.retry_delay,
    )
    if uploader.url:
        say(upload_url=uploader.url, offset=uploader.offset)
    size = uploader.get_file_size()
    uploader.upload(stop_at=min(args.stop_after or size, size))
    say(offset=uploader.offset, upload_url=uploader.url, complete=uploader.offset == size)


if __name__ == "__main__":
    try:
        main()
    except TusCommunicationError as error:
        # TusUploadFailed is a TusCommunicationError too.
        say(error=f"{error} (status {error.status_code}): {error.response_content!r}")
        sys.exit(1)
