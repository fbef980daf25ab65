#!/usr/bin/env node
// The `lastgood` command (package.json "bin"). Node 24 runs the TypeScript source as is; under npx,
// node_modules/.bin/node (the devDependency, Node 24) is first on the PATH.
import '../src/cli/main.ts';
