import { existsSync } from 'node:fs';
import { createRequire, findPackageJSON } from 'node:module';
import { dirname, isAbsolute, join } from 'node:path';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { fromJSON, type PackageDefinition } from '@grpc/proto-loader';
import type * as Protobuf from 'protobufjs';

/** The Google client packages whose APIs the emulator serves. */
export type GoogleClientPackage =
  | '@google-cloud/run'
  | '@google-cloud/deploy'
  | '@google-cloud/secret-manager'
  | '@google-cloud/monitoring';

/** A `google.protobuf.Any` as it travels in an operation's `response` and `metadata`. */
export interface PackedAny {
  // Snake case despite `keepCase: false`: protobufjs defines Any from its built-in copy, which the option does not
  // rename, so a `typeUrl` field would be dropped on the wire and clients would see an empty type URL.
  type_url: string;
  value: Buffer;
}

/** The parsed protos of one Google API: gRPC service definitions to serve, and the types to pack into `Any`. */
export interface ApiProtos {
  /** The gRPC definition of a service, e.g. `google.cloud.run.v2.Services`. */
  service(fullName: string): ServiceDefinition;
  /** Encodes a message of the named type into an `Any`, as Google's servers fill an operation's `response`. */
  pack(typeName: string, message: object): PackedAny;
}

/**
 * How requests reach the handlers and how responses are read: camelCase fields like the clients use, int64 as
 * strings, enums by name, oneofs named so an operation's `result` is visible, and absent fields left undefined.
 */
const LOADER_OPTIONS = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
} as const;

const loaded = new Map<string, ApiProtos>();

/**
 * Loads the `.proto` files of a client package with the google-gax protos that package itself depends on.
 * The clients pin different google-gax majors (Cloud Run, Monitoring and Secret Manager share the v6 lastgood
 * declares, Cloud Deploy nests its v4), so the common protos are resolved from the client package. Parsing takes a few
 * hundred milliseconds, so each package is parsed once per process.
 */
export function loadApiProtos(clientPackage: GoogleClientPackage, protoFiles: readonly string[]): ApiProtos {
  const key = `${clientPackage}:${protoFiles.join(',')}`;
  const cached = loaded.get(key);
  if (cached) return cached;

  const clientPackageJson = findPackageJSON(clientPackage, import.meta.url);
  const gaxPackageJson = clientPackageJson && findPackageJSON('google-gax', clientPackageJson);
  if (!clientPackageJson || !gaxPackageJson) {
    throw new Error(`cannot locate ${clientPackage} and its google-gax in node_modules`);
  }
  const includeDirs = [
    join(dirname(clientPackageJson), 'build/protos'),
    join(dirname(gaxPackageJson), 'build/protos'),
  ];
  const protobuf = createRequire(gaxPackageJson)('protobufjs') as typeof Protobuf;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (isAbsolute(target)) return target;
    return includeDirs.map((dir) => join(dir, target)).find((path) => existsSync(path)) ?? target;
  };
  root.loadSync([...protoFiles], { keepCase: LOADER_OPTIONS.keepCase });
  root.resolveAll();
  const packageDefinition: PackageDefinition = fromJSON(root.toJSON(), LOADER_OPTIONS);

  const protos: ApiProtos = {
    service(fullName) {
      const definition = packageDefinition[fullName];
      if (!definition || 'format' in definition)
        throw new Error(`${fullName} is not a service in ${clientPackage}`);
      return definition as ServiceDefinition;
    },
    pack(typeName, message) {
      const type = root.lookupType(typeName);
      return {
        type_url: `type.googleapis.com/${typeName}`,
        value: Buffer.from(type.encode(type.fromObject(message)).finish()),
      };
    },
  };
  loaded.set(key, protos);
  return protos;
}
