import { writeFileSync } from 'node:fs';
import { OPENAPI_PATH, renderOpenApi } from './openapi.ts';

writeFileSync(OPENAPI_PATH, renderOpenApi());
process.stdout.write(`wrote ${OPENAPI_PATH.pathname}\n`);
