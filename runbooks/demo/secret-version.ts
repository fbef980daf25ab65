/**
 * Demo only: `gcloud secrets versions list|add|disable` for the emulator's webhook-token secret, so
 * rotate-webhook-token.md can be followed on a laptop. Needs SECRET_MANAGER_EMULATOR_HOST (runbooks/README.md).
 *
 *   npx node runbooks/demo/secret-version.ts list
 *   printf %s "$NEW_TOKEN" | npx node runbooks/demo/secret-version.ts add
 *   npx node runbooks/demo/secret-version.ts disable 1
 */
import { text } from 'node:stream/consumers';
import { createSecretManagerClient } from '../../src/targets/google-clients.ts';

const SECRET = 'projects/demo-project/secrets/lastgood-webhook-token';

async function main(command: string | undefined, argument: string | undefined): Promise<void> {
  const host = process.env.SECRET_MANAGER_EMULATOR_HOST;
  if (!host)
    throw new Error(
      'set SECRET_MANAGER_EMULATOR_HOST (e.g. 127.0.0.1:8085): this talks to the emulator only',
    );
  const client = createSecretManagerClient(host);
  try {
    if (command === 'add') {
      const data = (await text(process.stdin)).trim();
      if (data.length === 0) throw new Error('pipe the new token on stdin');
      const [version] = await client.addSecretVersion({
        parent: SECRET,
        payload: { data: Buffer.from(data) },
      });
      process.stdout.write(`added ${version.name}\n`);
    } else if (command === 'disable' && argument !== undefined) {
      const [version] = await client.disableSecretVersion({ name: `${SECRET}/versions/${argument}` });
      process.stdout.write(`disabled ${version.name}\n`);
    } else if (command === 'list') {
      const [versions] = await client.listSecretVersions({ parent: SECRET });
      for (const version of versions)
        process.stdout.write(`${version.name?.split('/').pop()}\t${version.state}\n`);
    } else {
      throw new Error('usage: secret-version.ts list | add (token on stdin) | disable VERSION');
    }
  } finally {
    await client.close();
  }
}

main(process.argv[2], process.argv[3]).catch((error: unknown) => {
  process.stderr.write(`secret-version: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
