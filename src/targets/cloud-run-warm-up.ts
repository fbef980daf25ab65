import type { v2 as run } from '@google-cloud/run';
import { rollbackTraffic, type Service, snapshotOf } from './cloud-run-traffic.ts';
import { stubMethod } from './google-clients.ts';

const NAME = 'projects/lastgood-warm-up/locations/us-central1/services/warm-up';

/** A made-up service serving a bad revision, with a tag to carry over: the shape a rollback plans from. */
const SERVICE: Service = {
  name: NAME,
  etag: '"warm-up"',
  latestReadyRevision: `${NAME}/revisions/warm-up-00002-bad`,
  traffic: [
    { type: 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST', percent: 100 },
    { type: 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION', revision: 'warm-up-00001-good', tag: 'stable' },
  ],
  trafficStatuses: [{ type: 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST', percent: 100 }],
};

/**
 * Plans a rollback of a made-up service and encodes the UpdateService request it would send, then decodes a
 * made-up answer (the long-running operation and its metadata) as the client would, sending nothing: a mutation is
 * never called to warm it, so without this the first rollback of a process generated these codecs on its way to
 * UpdateService (protobufjs builds a message's encoder at its first use: 2-9 ms here). Call it once the client's
 * stub is built (`initialize()`). Answers the metadata decoded; throws if the stub or the client's operation
 * decoder is no longer where this looks, since it would then warm nothing.
 */
export async function warmRollbackCall(
  services: Pick<run.ServicesClient, 'servicesStub' | 'descriptors'>,
): Promise<Service> {
  const stub = (await services.servicesStub) as Record<string, unknown> | undefined;
  const update = stubMethod(stub, 'updateService');
  const before = snapshotOf(SERVICE);
  const traffic = rollbackTraffic(SERVICE, 'warm-up-00001-good');
  update.requestSerialize({
    service: { name: NAME, traffic, etag: before.etag },
    updateMask: { paths: ['traffic'] },
  });
  const operation = update.responseDeserialize(
    update.responseSerialize({
      name: `${NAME}/operations/warm-up`,
      done: false,
      metadata: {
        type_url: 'type.googleapis.com/google.cloud.run.v2.Service',
        value: stubMethod(stub, 'getService').responseSerialize(SERVICE),
      },
    }),
  ) as { metadata?: { value?: Uint8Array } };
  const decoder = (
    services.descriptors.longrunning.updateService as { metadataDecoder?: (bytes: Uint8Array) => Service }
  )?.metadataDecoder;
  if (decoder === undefined || operation.metadata?.value === undefined) {
    throw new Error('the Cloud Run client decodes no UpdateService operation metadata to warm');
  }
  return decoder(operation.metadata.value);
}
