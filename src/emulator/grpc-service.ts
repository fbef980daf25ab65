import {
  ServerInterceptingCall,
  type ServerInterceptor,
  type ServerUnaryCall,
  type sendUnaryData,
  status,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { arrivalTime, type CallLog } from './call-log.ts';
import type { FaultInjector } from './faults.ts';
import { isRpcError } from './rpc-error.ts';

/** A unary method's handler: the decoded request in, the response object (or a promise of it) out. */
export type UnaryHandler = (request: never) => unknown;

/** What every emulated call goes through: the call log and the fault injector. */
export interface CallRuntime {
  calls: CallLog;
  faults: FaultInjector;
}

/** The metadata key that carries a call's arrival time from `stampArrival` to its handler. */
const ARRIVED_AT = 'x-emulator-arrived-at';

/**
 * Stamps each call with the time its headers arrived, before grpc-js decodes its request: the call log's arrival
 * time is then when the request reached the emulator, as it would reach Google, and not also how long the emulator
 * took to decode it (2-2.5 ms for its first UpdateService, whose decoder protobufjs generates at first use).
 */
export const stampArrival: ServerInterceptor = (_method, call) =>
  new ServerInterceptingCall(call, {
    start: (next) =>
      next({
        onReceiveMetadata: (metadata, forward) => {
          metadata.set(ARRIVED_AT, String(arrivalTime()));
          forward(metadata);
        },
      }),
  });

/**
 * Wraps plain handlers into a gRPC service implementation that logs each call, applies injected faults (before the
 * handler, and after it for answers held or lost once the call was applied) and turns
 * thrown `RpcError`s into gRPC statuses. Methods without a handler answer UNIMPLEMENTED (grpc-js does that).
 */
export function implementService(
  runtime: CallRuntime,
  serviceName: string,
  handlers: Record<string, UnaryHandler>,
): UntypedServiceImplementation {
  const implementation: UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(handlers)) {
    implementation[method] = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
      const [arrivedAt] = call.metadata.get(ARRIVED_AT);
      const record = runtime.calls.record(
        serviceName,
        method,
        call.request,
        arrivedAt === undefined ? undefined : Number(arrivedAt),
      );
      const answer = async () => {
        await runtime.faults.beforeCall(method);
        const response = await handler(call.request as never);
        await runtime.faults.afterCall(method, call.request);
        return response;
      };
      answer().then(
        (response) => {
          record.code = status.OK;
          callback(null, response);
        },
        (error: unknown) => {
          const code = isRpcError(error) ? error.code : status.INTERNAL;
          const details = isRpcError(error)
            ? error.message
            : `Emulator bug in ${method}: ${error instanceof Error ? error.message : String(error)}`;
          record.code = code;
          callback({ code, details, name: 'RpcError', message: details });
        },
      );
    };
  }
  return implementation;
}
