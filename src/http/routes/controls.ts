import { z } from 'zod';
import type { ControlSetting } from '../../domain/controls.ts';
import { TARGET_NAME, type TargetConfig } from '../../domain/target.ts';
import type { Mode } from '../../domain/types.ts';
import { LastgoodError } from '../../errors.ts';
import type { ControlOverview } from '../../store/store.ts';
import type { HttpDeps } from '../deps.ts';
import { bindRoute, defineRoute } from '../route.ts';
import { errorSchema } from '../schemas.ts';

const targetParams = z.object({ name: z.string().regex(TARGET_NAME, 'not a target name') });
const MODES = ['auto', 'dry-run', 'notify', 'off'] as const;
const isoTime = z.string().meta({ format: 'date-time' });
const reason = z
  .string()
  .trim()
  .min(1, 'say why, for the audit log')
  .max(500)
  .meta({ description: 'Why: kept in the audit log and sent with the notification' });

/** Who set a control and why; all null while the default (environment or policy file) applies. */
const provenance = {
  reason: z.string().nullable(),
  changedBy: z.string().nullable(),
  changedAt: isoTime.nullable(),
};

export const targetControlSchema = z
  .object({
    name: z.string(),
    mode: z.enum(MODES),
    source: z.enum(['api', 'policy']).meta({ description: '`api` when set with PUT, else the policy file' }),
    ...provenance,
    blockedBy: z
      .object({ decisionId: z.string(), why: z.enum(['rollback_failed', 'not_healed']) })
      .nullable()
      .meta({
        description: 'Set while the target needs a person (`POST /v1/targets/:name/resume` clears it)',
      }),
  })
  .meta({ id: 'TargetControl' });

const killSwitchSchema = z
  .object({
    enabled: z
      .boolean()
      .meta({ description: 'false: lastgood decides DISABLED for every alert and manual request' }),
    source: z
      .enum(['api', 'environment'])
      .meta({ description: '`api` when set with PUT, else LASTGOOD_ENABLED' }),
    ...provenance,
    targets: z.array(targetControlSchema),
  })
  .meta({ id: 'Controls' });

export const getKillSwitchRoute = defineRoute({
  method: 'GET',
  path: '/v1/kill-switch',
  aliases: [],
  operationId: 'getKillSwitch',
  summary: 'The kill switch, each target’s mode, and the targets waiting for a person',
  description:
    'What every replica decides with: values set over the API, else LASTGOOD_ENABLED and the policy file.',
  tags: ['controls'],
  auth: 'viewer',
  responses: {
    200: { description: 'The controls in force.', schema: killSwitchSchema },
    401: { description: 'Missing or wrong operator token.', schema: errorSchema },
  },
});

export const putKillSwitchRoute = defineRoute({
  method: 'PUT',
  path: '/v1/kill-switch',
  aliases: [],
  operationId: 'setKillSwitch',
  summary: 'Turn automatic (and manual) rollback off or on for every target',
  description:
    '`enabled` means what LASTGOOD_ENABLED means: `false` makes every decision `DISABLED` and skips rollbacks not ' +
    'yet started, on every replica at once. `null` hands the switch back to LASTGOOD_ENABLED. The value set here ' +
    'wins over the environment until changed again. Audited with the token name and notified.',
  tags: ['controls'],
  auth: 'admin',
  body: z.strictObject({ enabled: z.boolean().nullable(), reason }),
  responses: {
    200: { description: 'The controls now in force.', schema: killSwitchSchema },
    400: { description: 'Not `{enabled, reason}`.', schema: errorSchema },
    401: { description: 'Missing or wrong operator token.', schema: errorSchema },
    403: { description: 'The token is not an admin.', schema: errorSchema },
  },
});

export const putModeRoute = defineRoute({
  method: 'PUT',
  path: '/v1/targets/:name/mode',
  aliases: [],
  operationId: 'setTargetMode',
  summary: 'Set a target’s mode at run time: auto, dry-run, notify or off',
  description:
    'Overrides the policy file’s `mode` for this target on every replica, from the next decision on; `null` hands ' +
    'it back to the policy file. Audited with the token name and notified.',
  tags: ['controls'],
  auth: 'admin',
  params: targetParams,
  body: z.strictObject({ mode: z.enum(MODES).nullable(), reason }),
  responses: {
    200: { description: 'The target’s controls now.', schema: targetControlSchema },
    400: { description: 'Not a target name, or not `{mode, reason}`.', schema: errorSchema },
    401: { description: 'Missing or wrong operator token.', schema: errorSchema },
    403: { description: 'The token is not an admin.', schema: errorSchema },
    404: { description: 'No configured target of that name.', schema: errorSchema },
  },
});

export const resumeRoute = defineRoute({
  method: 'POST',
  path: '/v1/targets/:name/resume',
  aliases: [],
  operationId: 'resumeTarget',
  summary: 'Hand a target back to lastgood after a rollback that failed or did not heal',
  description:
    'After a rollback fails, or succeeds without the incident closing within `verificationWindow`, lastgood ' +
    'decides `NEEDS_PERSON` for the target instead of stepping back again on its own. Call this once a person has ' +
    'dealt with it; manual rollbacks are never blocked. Audited with the token name, and notified (PagerDuty ' +
    'resolves the incidents of the rollbacks it clears). Idempotent: `cleared` is empty when nothing blocked it.',
  tags: ['operator'],
  auth: 'operator',
  params: targetParams,
  responses: {
    200: {
      description: 'The target takes automatic rollbacks again.',
      schema: z.object({
        target: z.string(),
        resumedBy: z.string(),
        cleared: z.array(z.string()).meta({ description: 'The decisions of the rollbacks that blocked it' }),
      }),
    },
    400: { description: 'Not a target name.', schema: errorSchema },
    401: { description: 'Missing or wrong operator token.', schema: errorSchema },
    403: { description: 'The token is only a viewer.', schema: errorSchema },
    404: { description: 'No configured target of that name.', schema: errorSchema },
  },
});

function configuredTarget(deps: HttpDeps, name: string): TargetConfig {
  const target = deps.targets.get(name);
  if (target === undefined)
    throw new LastgoodError('LASTGOOD_ERR_UNKNOWN_TARGET', `No configured target "${name}"`);
  return target;
}

function provenanceOf(setting: ControlSetting<unknown> | null) {
  return {
    reason: setting?.reason ?? null,
    changedBy: setting?.changedBy ?? null,
    changedAt: setting?.changedAt.toISOString() ?? null,
  };
}

function targetControl(target: TargetConfig, overview: ControlOverview): z.infer<typeof targetControlSchema> {
  const set = overview.modes.get(target.name) ?? null;
  return {
    name: target.name,
    mode: set?.value ?? (target.policy.mode as Mode),
    source: set === null ? 'policy' : 'api',
    ...provenanceOf(set),
    blockedBy: overview.blocks.get(target.name) ?? null,
  };
}

/** The kill switch and every target's controls, as `GET /v1/kill-switch` answers them. */
export async function controlsView(deps: HttpDeps): Promise<z.infer<typeof killSwitchSchema>> {
  const overview = await deps.store.controlOverview();
  return {
    enabled: overview.enabled?.value ?? deps.controls.enabled(),
    source: overview.enabled === null ? 'environment' : 'api',
    ...provenanceOf(overview.enabled),
    targets: [...deps.targets.values()].map((target) => targetControl(target, overview)),
  };
}

export function controlRoutes(deps: HttpDeps) {
  return [
    bindRoute(getKillSwitchRoute, async () => controlsView(deps)),
    bindRoute(putKillSwitchRoute, async ({ body, principal }) => {
      await deps.store.changeControl({
        kind: 'kill_switch',
        enabled: body.enabled,
        reason: body.reason,
        actor: principal!.name,
        at: deps.clock.now(),
      });
      return controlsView(deps);
    }),
    bindRoute(putModeRoute, async ({ params, body, principal }) => {
      const target = configuredTarget(deps, params.name);
      await deps.store.changeControl({
        kind: 'mode',
        target: target.name,
        mode: body.mode,
        reason: body.reason,
        actor: principal!.name,
        at: deps.clock.now(),
      });
      return targetControl(target, await deps.store.controlOverview());
    }),
    bindRoute(resumeRoute, async ({ params, principal }) => {
      const target = configuredTarget(deps, params.name);
      const cleared = await deps.store.resumeTarget(target.name, principal!.name, deps.clock.now());
      return { target: target.name, resumedBy: principal!.name, cleared };
    }),
  ];
}
