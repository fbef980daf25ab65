import { status } from '@grpc/grpc-js';

/** A gRPC status the emulator answers with, as Google's servers do: a canonical code and a readable message. */
export class RpcError extends Error {
  readonly code: status;

  constructor(code: status, message: string) {
    super(message);
    this.name = 'RpcError';
    this.code = code;
  }
}

export function isRpcError(value: unknown): value is RpcError {
  return value instanceof RpcError;
}

export const invalidArgument = (message: string) => new RpcError(status.INVALID_ARGUMENT, message);
export const notFound = (what: string) => new RpcError(status.NOT_FOUND, `${what} was not found.`);
export const failedPrecondition = (message: string) => new RpcError(status.FAILED_PRECONDITION, message);
export const aborted = (message: string) => new RpcError(status.ABORTED, message);
export const alreadyExists = (message: string) => new RpcError(status.ALREADY_EXISTS, message);
export const unimplemented = (message: string) => new RpcError(status.UNIMPLEMENTED, message);
