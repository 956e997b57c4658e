// Uploads a file with tus-js-client in Node, for tests/tus_clients.rs.
//
//   node upload.mjs --endpoint URL --file PATH --state PATH [--chunk-size BYTES]
//                   [--stop-after BYTES] [--retry-delays MS,MS,...]
//
// The upload URL is kept in --state (tus-js-client's FileUrlStorage): a
// second run with the same state resumes the upload the first one left.
// Prints JSON lines: {"upload_url"} once the upload has a URL, {"offset"}
// after each chunk the server took, and last {"offset", "upload_url",
// "complete"}, or {"error"} (exit status 1).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { FileUrlStorage, Upload } from 'tus-js-client';

const { values: args } = parseArgs({
  options: {
    endpoint: { type: 'string' },
    file: { type: 'string' },
    state: { type: 'string' },
    'chunk-size': { type: 'string', default: '1048576' },
    'stop-after': { type: 'string' },
    'retry-delays': { type: 'string', default: '' },
  },
});

function say(line) {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function fail(error) {
  say({ error: String(error) });
  process.exitCode = 1;
}

async function main() {
  const { size } = await stat(args.file);
  const stopAfter = args['stop-after'] === undefined ? Infinity : Number(args['stop-after']);
  const finish = (offset, complete) => say({ offset, upload_url: upload.url, complete });
  const upload = new Upload(createReadStream(args.file), {
    endpoint: args.endpoint,
    chunkSize: Number(args['chunk-size']),
    retryDelays: args['retry-delays'] ? args['retry-delays'].split(',').map(Number) : null,
    metadata: { filename: basename(args.file) },
    storeFingerprintForResuming: true,
    urlStorage: new FileUrlStorage(args.state),
    onUploadUrlAvailable: () => say({ upload_url: upload.url }),
    onChunkComplete: (_chunk, accepted) => {
      say({ offset: accepted });
      // Stop between two chunks, as a closed tab or a killed process would.
      if (accepted >= stopAfter && accepted < size) {
        upload.abort().then(() => finish(accepted, false));
      }
    },
    onSuccess: () => finish(size, true),
    onError: fail,
  });
  const previous = await upload.findPreviousUploads();
  if (previous.length > 0) {
    upload.resumeFromPreviousUpload(previous[0]);
  }
  upload.start();
}

main().catch(fail);
