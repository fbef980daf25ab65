import { text } from 'node:stream/consumers';
import { runCli } from './run.ts';

/** `npx lastgood ...` (bin/lastgood.js): the process around `runCli`. */
process.exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  stdout: (output) => process.stdout.write(`${output}\n`),
  stderr: (output) => process.stderr.write(`${output}\n`),
  readStdin: () => text(process.stdin),
});
