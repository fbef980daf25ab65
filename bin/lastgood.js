#!/usr/bin/env node
// `lastgood` from a clone, without `npm run build`: Node >= 24 runs the TypeScript source as is (type stripping).
// The package's "bin" is the built dist/cli/main.js, which plain Node >= 22 runs.
import '../src/cli/main.ts';
