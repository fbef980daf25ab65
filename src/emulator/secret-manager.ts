import { randomBytes } from 'node:crypto';
import { FixtureError, SECRET_NAME, type SECRET_VERSION_STATES, type SecretFixture } from './fixture.ts';
import { aborted, failedPrecondition, invalidArgument, notFound, unimplemented } from './rpc-error.ts';
import { paginate, toTimestamp } from './wire.ts';

/** Secret Manager's protos, from `@google-cloud/secret-manager` and its own google-gax. */
export const SECRET_MANAGER_PROTO_FILES = ['google/cloud/secretmanager/v1/service.proto'] as const;
export const SECRET_MANAGER_SERVICE = 'google.cloud.secretmanager.v1.SecretManagerService';

const VERSION_NAME = /^(projects\/[^/]+\/secrets\/[^/]+)\/versions\/([^/]+)$/;
/** Secret Manager's payload limit. */
const MAX_PAYLOAD_BYTES = 64 * 1024;

type VersionState = (typeof SECRET_VERSION_STATES)[number];

interface VersionRecord {
  name: string;
  number: number;
  createTime: number;
  destroyTime: number | null;
  state: VersionState;
  data: Buffer;
  etag: string;
}

interface SecretRecord {
  name: string;
  createTime: number;
  labels: Record<string, string>;
  etag: string;
  /** Oldest first, so version N is at index N - 1. */
  versions: VersionRecord[];
}

/** A secret as the admin endpoint and tests see it: versions newest first, payload sizes but never payloads. */
export interface SecretSnapshot {
  name: string;
  versions: { name: string; state: VersionState; createTime: string; bytes: number }[];
}

interface NameRequest {
  name?: string;
}
interface EtagRequest extends NameRequest {
  etag?: string;
}
interface ListRequest {
  parent?: string;
  pageSize?: number;
  pageToken?: string;
  filter?: string;
}
interface AddSecretVersionRequest {
  parent?: string;
  payload?: { data?: Buffer; dataCrc32c?: string | number };
}

/**
 * Secret Manager v1, stateful: secrets with numbered versions that can be added, disabled and enabled. As the
 * API reference says, `versions/latest` is the most recently created version, which fails access when that
 * version is not ENABLED.
 */
export class SecretManagerEmulation {
  #secrets = new Map<string, SecretRecord>();

  seed(fixtures: readonly SecretFixture[]): void {
    const secrets = new Map<string, SecretRecord>();
    fixtures.forEach((fixture, index) => {
      if (secrets.has(fixture.name)) {
        throw new FixtureError(
          `Invalid fixture:\n  secretManager.secrets.${index}.name: "${fixture.name}" is repeated`,
        );
      }
      const versions = fixture.versions.map(
        (version, versionIndex): VersionRecord => ({
          name: `${fixture.name}/versions/${versionIndex + 1}`,
          number: versionIndex + 1,
          createTime: version.createTime,
          destroyTime: version.state === 'DESTROYED' ? version.createTime : null,
          state: version.state,
          data: version.state === 'DESTROYED' ? Buffer.alloc(0) : Buffer.from(version.data, 'utf8'),
          etag: newEtag(),
        }),
      );
      const createTime = Math.min(...versions.map((version) => version.createTime), Date.now());
      secrets.set(fixture.name, {
        name: fixture.name,
        createTime,
        labels: fixture.labels,
        etag: newEtag(),
        versions,
      });
    });
    this.#secrets = secrets;
  }

  /** A secret's versions and their states, or null when it does not exist. */
  secret(name: string): SecretSnapshot | null {
    const secret = this.#secrets.get(name);
    return secret ? secretSnapshot(secret) : null;
  }

  secrets(): SecretSnapshot[] {
    return [...this.#secrets.values()].map(secretSnapshot);
  }

  /** Handlers of `google.cloud.secretmanager.v1.SecretManagerService`. */
  handlers() {
    return {
      GetSecret: (request: NameRequest) => secretMessage(this.#requireSecret(request.name)),
      GetSecretVersion: (request: NameRequest) => versionMessage(this.#resolveVersion(request.name)),
      ListSecretVersions: (request: ListRequest) => {
        const secret = this.#requireSecret(request.parent);
        if (request.filter)
          throw unimplemented('The emulator does not support filters on ListSecretVersions.');
        const newestFirst = [...secret.versions].reverse();
        const { page, nextPageToken } = paginate(newestFirst, request.pageSize, request.pageToken);
        return { versions: page.map(versionMessage), nextPageToken, totalSize: newestFirst.length };
      },
      AccessSecretVersion: (request: NameRequest) => {
        const version = this.#resolveVersion(request.name);
        if (version.state !== 'ENABLED') {
          throw failedPrecondition(`Secret Version [${version.name}] is in ${version.state} state.`);
        }
        return {
          name: version.name,
          payload: { data: version.data, dataCrc32c: String(crc32c(version.data)) },
        };
      },
      AddSecretVersion: (request: AddSecretVersionRequest) => {
        const secret = this.#requireSecret(request.parent);
        const data = request.payload?.data ?? Buffer.alloc(0);
        if (data.byteLength > MAX_PAYLOAD_BYTES) {
          throw invalidArgument(
            `The payload is ${data.byteLength} bytes; the limit is ${MAX_PAYLOAD_BYTES}.`,
          );
        }
        const checksum = request.payload?.dataCrc32c;
        if (checksum !== undefined && Number(checksum) !== crc32c(data)) {
          throw invalidArgument('payload.data_crc32c does not match the CRC32C of payload.data.');
        }
        const number = secret.versions.length + 1;
        const version: VersionRecord = {
          name: `${secret.name}/versions/${number}`,
          number,
          createTime: Date.now(),
          destroyTime: null,
          state: 'ENABLED',
          data: Buffer.from(data),
          etag: newEtag(),
        };
        secret.versions.push(version);
        return versionMessage(version);
      },
      DisableSecretVersion: (request: EtagRequest) => this.#changeState(request, 'DISABLED'),
      EnableSecretVersion: (request: EtagRequest) => this.#changeState(request, 'ENABLED'),
    };
  }

  #changeState(request: EtagRequest, state: 'ENABLED' | 'DISABLED') {
    const version = this.#resolveVersion(request.name);
    if (request.etag && request.etag !== version.etag) {
      throw aborted(`The etag ${request.etag} of ${version.name} is stale; read the version again.`);
    }
    if (version.state === 'DESTROYED') {
      throw failedPrecondition(`Secret Version [${version.name}] is DESTROYED and cannot change state.`);
    }
    if (version.state !== state) {
      version.state = state;
      version.etag = newEtag();
    }
    return versionMessage(version);
  }

  #requireSecret(name: string | undefined): SecretRecord {
    if (!name || !SECRET_NAME.test(name)) {
      throw invalidArgument(`"${name ?? ''}" is not a secret name like projects/P/secrets/S.`);
    }
    const secret = this.#secrets.get(name);
    if (!secret) throw notFound(`Secret [${name}]`);
    return secret;
  }

  /** A version by number, or `latest` for the most recently created one. */
  #resolveVersion(name: string | undefined): VersionRecord {
    const [, secretName, versionId = ''] = VERSION_NAME.exec(name ?? '') ?? [];
    if (!secretName) {
      throw invalidArgument(
        `"${name ?? ''}" is not a secret version name like projects/P/secrets/S/versions/V.`,
      );
    }
    const secret = this.#requireSecret(secretName);
    if (versionId !== 'latest' && !/^[1-9]\d*$/.test(versionId)) {
      throw invalidArgument(`Version "${versionId}" must be a version number or "latest".`);
    }
    const version = versionId === 'latest' ? secret.versions.at(-1) : secret.versions[Number(versionId) - 1];
    if (!version) throw notFound(`Secret Version [${name}]`);
    return version;
  }
}

/** Secret Manager etags are quoted strings. */
function newEtag(): string {
  return `"${randomBytes(7).toString('hex')}"`;
}

function secretMessage(secret: SecretRecord) {
  return {
    name: secret.name,
    replication: { automatic: {} },
    createTime: toTimestamp(secret.createTime),
    labels: secret.labels,
    etag: secret.etag,
  };
}

function versionMessage(version: VersionRecord) {
  return {
    name: version.name,
    createTime: toTimestamp(version.createTime),
    ...(version.destroyTime === null ? {} : { destroyTime: toTimestamp(version.destroyTime) }),
    state: version.state,
    replicationStatus: { automatic: {} },
    etag: version.etag,
  };
}

function secretSnapshot(secret: SecretRecord): SecretSnapshot {
  return {
    name: secret.name,
    versions: [...secret.versions].reverse().map((version) => ({
      name: version.name,
      state: version.state,
      createTime: new Date(version.createTime).toISOString(),
      bytes: version.data.byteLength,
    })),
  };
}

const CRC32C_TABLE = Uint32Array.from({ length: 256 }, (_, byte) => {
  let crc = byte;
  for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? 0x82f63b78 ^ (crc >>> 1) : crc >>> 1;
  return crc >>> 0;
});

/** CRC32C (Castagnoli), the checksum Secret Manager puts in `data_crc32c`; node:zlib only has plain CRC-32. */
export function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
