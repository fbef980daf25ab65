#!/usr/bin/env node
import { text } from 'node:stream/consumers';
import { runCli } from './run.ts';

/** `lastgood ...` (the package's bin once built, or bin/lastgood.js from a clone): the process around `runCli`. */
process.exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  stdout: (output) => process.stdout.write(`${output}\n`),
  stderr: (output) => process.stderr.write(`${output}\n`),
  readStdin: () => text(process.stdin),
  columns: process.stdout.isTTY ? process.stdout.columns : undefined,
  isTTY: process.stdout.isTTY === true,
});
