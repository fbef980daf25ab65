import { parse as parseYaml, YAMLError } from 'yaml';
import { z } from 'zod';
import {
  DEFAULT_JUDGEMENT_POLICY,
  EVIDENCE_MODES,
  type JudgementPolicy,
} from '../domain/judgement-policy.ts';
import {
  type ExecutionSettings,
  protectedResource,
  TARGET_NAME,
  type TargetConfig,
} from '../domain/target.ts';
import type { Mode, Policy } from '../domain/types.ts';
import { LastgoodError } from '../errors.ts';
import { duration } from './durations.ts';

/** The judgement's thresholds; each key overrides its default alone (docs/judgement.md). */
const judgementOverrides = z.strictObject({
  changeWindow: duration({ min: '1m', max: '7d' }).optional(),
  obviousChange: duration({ min: '0ms', max: '1d' }).optional(),
  healthyServing: duration({ min: '1m', max: '7d' }).optional(),
  onsetTolerance: duration({ min: '0ms', max: '1h' }).optional(),
  defaultLookback: duration({ min: '1m', max: '30d' }).optional(),
  minRequests: z.number().int().min(1).max(1_000_000).optional(),
  ratioMultiple: z.number().min(1).max(100).optional(),
  minRatioIncrease: z.number().min(0).lt(1).optional(),
  baselineWindow: duration({ min: '1m', max: '1d' }).optional(),
  spikeMultiple: z.number().gt(1).max(1000).optional(),
  correlationWindow: duration({ min: '1m', max: '1d' }).optional(),
  correlationMinTargets: z.number().int().min(1).max(1000).optional(),
});
type JudgementOverrides = z.infer<typeof judgementOverrides>;

const policyOverrides = {
  mode: z.enum(['auto', 'dry-run', 'notify', 'off']).optional(),
  errorRateThreshold: z.number().gt(0).lt(1).optional(),
  minConfidence: z.number().min(0).max(1).optional(),
  maxRollbacksPerHour: z.number().int().min(1).max(60).optional(),
  cooldown: duration({ min: '1m', max: '7d' }).optional(),
  maxAlertAge: duration({ min: '1m', max: '1d' }).optional(),
  signal: z.enum(['error_ratio', 'burn_rate']).optional(),
  sloGoal: z.number().gt(0).lt(1).optional(),
  stableTag: z
    .string()
    .regex(/^[a-z]([a-z0-9-]{0,44}[a-z0-9])?$/, 'a Cloud Run traffic tag')
    .optional(),
  minHealthyServing: duration({ min: '0ms', max: '7d' }).optional(),
  freezeAfterRollback: z.boolean().optional(),
  verificationWindow: duration({ min: '100ms', max: '7d' }).optional(),
  evidence: z.enum(EVIDENCE_MODES).optional(),
  judgement: judgementOverrides.optional(),
};

const cloudRunTarget = z.strictObject({
  kind: z.literal('cloud-run'),
  project: z.string().min(1),
  region: z.string().min(1),
  service: z.string().min(1),
  ...policyOverrides,
});

const cloudDeployTarget = z.strictObject({
  kind: z.literal('cloud-deploy'),
  project: z.string().min(1),
  region: z.string().min(1),
  pipeline: z.string().min(1),
  target: z.string().min(1),
  /** The Cloud Run service the target deploys to, in the same project and region: its revisions are compared too. */
  service: z.string().min(1).optional(),
  ...policyOverrides,
});

const policyFileSchema = z.strictObject({
  defaults: z.strictObject(policyOverrides).default({}),
  targets: z
    .record(
      z
        .string()
        .regex(TARGET_NAME, 'target names are lowercase letters, digits, _ and -, starting with a letter'),
      z.discriminatedUnion('kind', [cloudRunTarget, cloudDeployTarget]),
    )
    .default({}),
});

type PolicyOverrides = z.infer<z.ZodObject<typeof policyOverrides>>;
type ResolvedOverrides = {
  [K in Exclude<keyof PolicyOverrides, 'sloGoal' | 'judgement'>]-?: NonNullable<PolicyOverrides[K]>;
} & {
  sloGoal?: number | undefined;
};

const POLICY_DEFAULTS = {
  mode: 'auto',
  errorRateThreshold: 0.01,
  minConfidence: 0.8,
  maxRollbacksPerHour: 3,
  cooldown: 30 * 60_000,
  maxAlertAge: 15 * 60_000,
  signal: 'error_ratio',
  stableTag: 'stable',
  minHealthyServing: 10 * 60_000,
  freezeAfterRollback: true,
  verificationWindow: 15 * 60_000,
  evidence: DEFAULT_JUDGEMENT_POLICY.evidence,
} as const satisfies PolicyOverrides;

/** The judgement in force: the defaults, then the file's `defaults.judgement`, then the target's own. */
function resolveJudgement(
  evidence: JudgementPolicy['evidence'],
  ...layers: (JudgementOverrides | undefined)[]
) {
  const merged = Object.assign(
    {},
    ...layers.map((layer) => stripUndefined(layer ?? {})),
  ) as JudgementOverrides;
  const base = DEFAULT_JUDGEMENT_POLICY;
  return Object.freeze({
    evidence,
    changeWindowMs: merged.changeWindow ?? base.changeWindowMs,
    obviousChangeMs: merged.obviousChange ?? base.obviousChangeMs,
    healthyServingMs: merged.healthyServing ?? base.healthyServingMs,
    onsetToleranceMs: merged.onsetTolerance ?? base.onsetToleranceMs,
    defaultLookbackMs: merged.defaultLookback ?? base.defaultLookbackMs,
    minRequests: merged.minRequests ?? base.minRequests,
    ratioMultiple: merged.ratioMultiple ?? base.ratioMultiple,
    minRatioIncrease: merged.minRatioIncrease ?? base.minRatioIncrease,
    baselineWindowMs: merged.baselineWindow ?? base.baselineWindowMs,
    spikeMultiple: merged.spikeMultiple ?? base.spikeMultiple,
    correlationWindowMs: merged.correlationWindow ?? base.correlationWindowMs,
    correlationMinTargets: merged.correlationMinTargets ?? base.correlationMinTargets,
  } satisfies JudgementPolicy);
}

/** Zod issues as the one message a refused start prints, each with the bad key's path. */
export function formatIssues(source: string, error: z.ZodError): string {
  const lines = error.issues.map((issue) => `  ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  return `Invalid configuration in ${source}:\n${lines.join('\n')}`;
}

function resolvePolicy(
  defaults: PolicyOverrides,
  overrides: PolicyOverrides,
  path: string,
): { policy: Policy; execution: ExecutionSettings } {
  const merged = {
    ...POLICY_DEFAULTS,
    ...stripUndefined(defaults),
    ...stripUndefined(overrides),
  } as ResolvedOverrides;
  let signal: Policy['signal'];
  if (merged.signal === 'burn_rate') {
    if (merged.sloGoal === undefined) {
      throw new LastgoodError(
        'LASTGOOD_ERR_CONFIG',
        `Invalid configuration in policy file:\n  ${path}.sloGoal: required when signal is burn_rate (e.g. 0.999)`,
      );
    }
    signal = { kind: 'burn_rate', sloGoal: merged.sloGoal };
  } else {
    signal = { kind: 'error_ratio' };
  }
  return {
    policy: {
      mode: merged.mode as Mode,
      errorRateThreshold: merged.errorRateThreshold,
      minConfidence: merged.minConfidence,
      maxRollbacksPerHour: merged.maxRollbacksPerHour,
      cooldownMs: merged.cooldown,
      maxAlertAgeMs: merged.maxAlertAge,
      signal,
    },
    execution: {
      stableTag: merged.stableTag,
      minHealthyServingMs: merged.minHealthyServing,
      freezeAfterRollback: merged.freezeAfterRollback,
      verificationWindowMs: merged.verificationWindow,
      judgement: resolveJudgement(merged.evidence, defaults.judgement, overrides.judgement),
    },
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Alias uses a policy file may expand: a few `*defaults` are useful, thousands are an alias bomb. */
const MAX_ALIAS_USES = 50;

/** Why the text is not YAML, with the line and column the `yaml` package points at. */
function yamlProblem(error: unknown): string {
  if (error instanceof YAMLError && error.linePos !== undefined) {
    const [{ line, col }] = error.linePos;
    // The package's message is "<reason> at line L, column C:" followed by a snippet; the reason is the first part.
    const reason = error.message.split(/ at line \d+, column \d+/)[0];
    return `not valid YAML at line ${line}, column ${col}: ${reason} (${error.code})`;
  }
  // The package throws a ReferenceError once aliases expand past maxAliasCount.
  if (error instanceof ReferenceError) {
    return `not valid YAML: its aliases (*name) expand too far, at most ${MAX_ALIAS_USES} alias uses are allowed`;
  }
  return `not valid YAML: ${error instanceof Error ? error.message : String(error)}`;
}

/** Parses and validates the policy YAML text into resolved targets. */
export function parsePolicyFile(text: string, source: string): Map<string, TargetConfig> {
  let raw: unknown;
  try {
    raw = parseYaml(text, { maxAliasCount: MAX_ALIAS_USES });
  } catch (error) {
    throw new LastgoodError(
      'LASTGOOD_ERR_CONFIG',
      `Invalid configuration in ${source}: ${yamlProblem(error)}`,
      {
        cause: error,
      },
    );
  }
  const parsed = policyFileSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new LastgoodError('LASTGOOD_ERR_CONFIG', formatIssues(source, parsed.error));
  const defaults = parsed.data.defaults;
  resolvePolicy(defaults, {}, 'defaults');
  if (Object.keys(parsed.data.targets).length === 0) {
    throw new LastgoodError(
      'LASTGOOD_ERR_CONFIG',
      `Invalid configuration in ${source}:\n  targets: no targets, so lastgood would protect nothing. Fix: list ` +
        'at least one under targets: (see examples/lastgood.yaml), or check LASTGOOD_CONFIG names the right file.',
    );
  }
  const targets = new Map<string, TargetConfig>();
  // Resource names are lowercase in Google Cloud, so a difference in case is still the same resource.
  const targetByResource = new Map<string, string>();
  for (const [name, entry] of Object.entries(parsed.data.targets)) {
    const { policy, execution } = resolvePolicy(defaults, entry, `targets.${name}`);
    const location =
      entry.kind === 'cloud-run'
        ? { kind: entry.kind, project: entry.project, region: entry.region, service: entry.service }
        : {
            kind: entry.kind,
            project: entry.project,
            region: entry.region,
            pipeline: entry.pipeline,
            target: entry.target,
            service: entry.service ?? null,
          };
    const resource = protectedResource(location);
    const first = targetByResource.get(resource.toLowerCase());
    if (first !== undefined) {
      throw new LastgoodError(
        'LASTGOOD_ERR_CONFIG',
        `Invalid configuration in ${source}:\n  targets.${name}: protects ${resource}, as targets.${first} does; ` +
          'two targets for one resource would roll it back twice for one incident. Keep one of them.',
      );
    }
    targetByResource.set(resource.toLowerCase(), name);
    targets.set(name, Object.freeze({ ...location, name, policy, execution }) as TargetConfig);
  }
  return targets;
}
