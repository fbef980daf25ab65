import type { ConditionRecord, RevisionRecord, ServiceRecord } from './cloud-run-model.ts';
import { serviceUri } from './cloud-run-traffic.ts';
import { toTimestamp } from './wire.ts';

/** A `google.cloud.run.v2.Service` as the proto loader encodes it. */
export function serviceMessage(service: ServiceRecord) {
  const latestReady = service.revisions.find((revision) => revision.ready);
  const latestCreated = service.revisions[0];
  const uri = serviceUri(service, '');
  return {
    name: service.name,
    uid: service.uid,
    generation: String(service.generation),
    labels: service.labels,
    annotations: service.annotations,
    description: service.description,
    createTime: toTimestamp(service.createTime),
    updateTime: toTimestamp(service.updateTime),
    launchStage: 'GA',
    template: { containers: latestCreated ? [{ image: latestCreated.image }] : [] },
    traffic: service.traffic,
    observedGeneration: String(service.observedGeneration),
    terminalCondition: conditionMessage('Ready', service.ready),
    latestReadyRevision: latestReady?.name ?? '',
    latestCreatedRevision: latestCreated?.name ?? '',
    trafficStatuses: service.trafficStatuses,
    uri,
    urls: [uri],
    reconciling: service.reconciling,
    etag: service.etag,
  };
}

/** A `google.cloud.run.v2.Revision` as the proto loader encodes it. */
export function revisionMessage(service: ServiceRecord, revision: RevisionRecord) {
  return {
    name: revision.name,
    uid: revision.uid,
    generation: '1',
    createTime: toTimestamp(revision.createTime),
    updateTime: toTimestamp(revision.createTime),
    launchStage: 'GA',
    service: service.name,
    containers: [{ image: revision.image }],
    conditions: [
      conditionMessage('Ready', {
        state: revision.ready ? 'CONDITION_SUCCEEDED' : 'CONDITION_FAILED',
        message: revision.ready ? '' : revision.failureMessage,
        lastTransitionTime: revision.createTime,
      }),
    ],
    observedGeneration: '1',
    reconciling: false,
  };
}

function conditionMessage(type: string, condition: ConditionRecord) {
  return {
    type,
    state: condition.state,
    message: condition.message,
    lastTransitionTime: toTimestamp(condition.lastTransitionTime),
    ...(condition.state === 'CONDITION_FAILED' ? { severity: 'ERROR' } : {}),
  };
}
