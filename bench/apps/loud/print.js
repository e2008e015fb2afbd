// Prints argv[2] megabytes (default 200) of 100-byte log lines to stdout, as a chatty test suite does, then exits 0.
const megabytes = Number(process.argv[2] ?? 200);
const total = megabytes * 1024 * 1024;
const text = 'the shopping tool answers with the expected products for the collage in time'.padEnd(78, '.');
const line = (n) => `test ${String(n).padStart(9, '0')}: ok - ${text}\n`;
const linesPerChunk = 640; // 64 KB writes
let written = 0;
let n = 0;

function pump() {
  while (written < total) {
    let chunk = '';
    for (let i = 0; i < linesPerChunk && written + chunk.length < total; i += 1) chunk += line(n++);
    written += chunk.length;
    if (!process.stdout.write(chunk)) {
      process.stdout.once('drain', pump);
      return;
    }
  }
}
pump();
