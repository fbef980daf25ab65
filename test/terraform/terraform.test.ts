import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.ts';
import { parsePolicyFile } from '../../src/config/policy.ts';
import { ROLLBACK_ERROR_CODES } from '../../src/domain/rollback.ts';
import { TARGET_NAME } from '../../src/domain/target.ts';
import { healthzRoute, readyzRoute } from '../../src/http/routes/health.ts';
import { prometheusMetricsRoute } from '../../src/http/routes/prometheus.ts';
import { webhookRoute } from '../../src/http/routes/webhook.ts';
import { createMetrics } from '../../src/metrics.ts';
import { EXAMPLE_POLICY, startTestApp, type TestApp } from '../helpers/app.ts';
import { promqlProblems } from '../metrics/promql.ts';
import {
  asObject,
  block,
  blocks,
  defaults,
  dynamicBlock,
  evaluate,
  type Json,
  type JsonObject,
  loadTerraformDir,
  resolvedLocals,
  resource,
  squash,
  type TerraformDir,
  variable,
} from './hcl.ts';

const TERRAFORM_ROOT = fileURLToPath(new URL('../../terraform/', import.meta.url));
const MODULE_NAMES = ['lastgood', 'protected-service', 'cloud-deploy-pipeline'] as const;
const EXAMPLE_PATH = join(TERRAFORM_ROOT, 'examples/complete');
/** Stands in for the example's required project_id when rendering its policy file. */
const EXAMPLE_PROJECT = 'example-project';

let modules: Record<(typeof MODULE_NAMES)[number], TerraformDir>;
let example: TerraformDir;
let allDirs: TerraformDir[];
let testApp: TestApp;

beforeAll(async () => {
  const loaded = await Promise.all(
    MODULE_NAMES.map((name) => loadTerraformDir(join(TERRAFORM_ROOT, 'modules', name))),
  );
  modules = {
    lastgood: loaded[0]!,
    'protected-service': loaded[1]!,
    'cloud-deploy-pipeline': loaded[2]!,
  };
  example = await loadTerraformDir(EXAMPLE_PATH);
  allDirs = [...loaded, example];
  testApp = await startTestApp();
});

afterAll(async () => {
  await testApp?.close();
});

function validations(dir: TerraformDir, name: string): string[] {
  return blocks(variable(dir, name), 'validation').map((rule) => String(rule.condition));
}

/** The first regex(...) literal in an HCL expression, unescaped. */
function regexIn(expression: string): string {
  const match = /regex\("((?:[^"\\]|\\.)*)"/.exec(expression);
  if (!match) throw new Error(`no regex in ${expression}`);
  return JSON.parse(`"${match[1]}"`) as string;
}

/** lastgood's own container in its Cloud Run service: the one that takes requests (the sidecar has no port). */
function lastgoodContainer(dir: TerraformDir): JsonObject {
  const template = block(resource(dir, 'google_cloud_run_v2_service.lastgood'), 'template');
  const serving = blocks(template, 'containers').filter((container) => 'ports' in container);
  if (serving.length !== 1) throw new Error(`expected one container with ports, found ${serving.length}`);
  return serving[0]!;
}

function renderTemplate(template: string, vars: JsonObject): string {
  return template.replace(/\$\{(\w+)\}/g, (_, name: string) => {
    if (!(name in vars)) throw new Error(`templatefile() would fail: no value for \${${name}}`);
    return String(vars[name]);
  });
}

const WORKBOOK_WINDOWS = {
  fast: { long: '3600s', short: '300s', burnRate: 14.4, rollsBack: true },
  slow: { long: '21600s', short: '1800s', burnRate: 6, rollsBack: false },
};

describe('terraform module conventions', () => {
  it('gives every module and the example main, variables, outputs and versions files allowing google 6 and 7', () => {
    for (const dir of allDirs) {
      expect(dir.fileNames, dir.path).toEqual(
        expect.arrayContaining(['main.tf', 'outputs.tf', 'variables.tf', 'versions.tf']),
      );
      const terraform = dir.terraformBlocks[0];
      expect(terraform?.required_version, dir.path).toBe('>= 1.5');
      const providers = block(asObject(terraform, 'terraform'), 'required_providers');
      expect(asObject(providers.google, 'google')).toEqual({
        source: 'hashicorp/google',
        version: '>= 6.0, < 8.0',
      });
    }
  });

  it('describes every variable and output', () => {
    for (const dir of allDirs) {
      // Every directory declares both: an empty parse would otherwise pass.
      expect(dir.variables.size, dir.path).toBeGreaterThan(0);
      expect(dir.outputs.size, dir.path).toBeGreaterThan(0);
      for (const [kind, declared] of [
        ['variable', dir.variables],
        ['output', dir.outputs],
      ] as const) {
        for (const [name, body] of declared) {
          expect(String(body.description ?? '').trim(), `${dir.path}: ${kind} ${name}`).not.toBe('');
        }
      }
    }
  });

  it('validates the SLO goal, target and resource names, and burn-rate windows', () => {
    const protectedService = modules['protected-service'];
    expect(validations(protectedService, 'slo_goal')).toEqual([`\${var.slo_goal > 0 && var.slo_goal < 1}`]);
    // Target names are lastgood's own rule, read from the app.
    expect(regexIn(validations(protectedService, 'target_name')[0]!)).toBe(TARGET_NAME.source);
    expect(regexIn(validations(modules.lastgood, 'policy_yaml')[1]!)).toBe(TARGET_NAME.source);
    expect(regexIn(validations(protectedService, 'burn_rate_windows')[0]!)).toBe(TARGET_NAME.source);

    const windowRules = validations(protectedService, 'burn_rate_windows').map(squash);
    const durationRule = new RegExp(regexIn(windowRules[1]!));
    for (const window of Object.values(WORKBOOK_WINDOWS)) {
      expect(window.long).toMatch(durationRule);
      expect(window.short).toMatch(durationRule);
    }
    expect(windowRules).toEqual(
      expect.arrayContaining([
        expect.stringContaining(
          'tonumber(trimsuffix(window.short_window, "s")) < tonumber(trimsuffix(window.long_window, "s"))',
        ),
        expect.stringContaining('window.burn_rate > 1'),
      ]),
    );

    const named: [TerraformDir, string][] = [
      [protectedService, 'project_id'],
      [protectedService, 'service_name'],
      [protectedService, 'cloud_deploy'],
      [modules.lastgood, 'name'],
      [modules.lastgood, 'project_id'],
      [modules['cloud-deploy-pipeline'], 'pipeline_name'],
      [modules['cloud-deploy-pipeline'], 'stages'],
      [modules['cloud-deploy-pipeline'], 'canary_percentages'],
      [example, 'project_id'],
    ];
    for (const [dir, name] of named) {
      expect(validations(dir, name).length, `${dir.path}: ${name}`).toBeGreaterThan(0);
    }
  });

  it('documents every module input and output in terraform/README.md', () => {
    const readme = readFileSync(join(TERRAFORM_ROOT, 'README.md'), 'utf8');
    for (const name of MODULE_NAMES) {
      const section = readme.split(`\n### ${name}\n`)[1]?.split('\n### ')[0] ?? '';
      const declared = [...modules[name].variables.keys(), ...modules[name].outputs.keys()];
      expect(section, `README section for ${name}`).not.toBe('');
      expect(declared.length, name).toBeGreaterThan(0);
      for (const documented of declared) {
        expect(section, `${name}: ${documented}`).toContain(`| \`${documented}\` |`);
      }
    }
  });

  it('references only declared variables, locals, resources and module outputs', () => {
    const checked = { var: 0, local: 0, resource: 0 };
    for (const dir of allDirs) {
      for (const [, name] of dir.text.matchAll(/\bvar\.([a-z_][a-z0-9_]*)/g)) {
        expect(dir.variables.has(name!), `${dir.path}: var.${name}`).toBe(true);
        checked.var++;
      }
      for (const [, name] of dir.text.matchAll(/\blocal\.([a-z_][a-z0-9_]*)/g)) {
        expect(name! in dir.locals, `${dir.path}: local.${name}`).toBe(true);
        checked.local++;
      }
      for (const [, address] of dir.text.matchAll(/\b((?:google|random)_[a-z0-9_]+\.[a-z0-9_]+)\./g)) {
        expect(dir.resources.has(address!), `${dir.path}: ${address}`).toBe(true);
        checked.resource++;
      }
    }
    // Each kind of reference occurs somewhere: an empty read of the files would otherwise pass.
    expect(checked.var).toBeGreaterThan(0);
    expect(checked.local).toBeGreaterThan(0);
    expect(checked.resource).toBeGreaterThan(0);
  });

  it('calls modules with declared variables only, every required one, and existing outputs', async () => {
    expect([...example.moduleCalls.keys()].sort()).toEqual([
      'lastgood',
      'storefront_pipeline',
      'storefront_protection',
    ]);
    let outputsRead = 0;
    for (const [callName, call] of example.moduleCalls) {
      const called = await loadTerraformDir(join(EXAMPLE_PATH, String(call.source)));
      const passed = Object.keys(call).filter((key) => key !== 'source');
      for (const name of passed) expect(called.variables.has(name), `module.${callName}: ${name}`).toBe(true);
      for (const [name, declared] of called.variables) {
        if (!('default' in declared)) expect(passed, `module.${callName} needs ${name}`).toContain(name);
      }
      for (const [, output] of example.text.matchAll(
        new RegExp(`\\bmodule\\.${callName}\\.([a-z0-9_]+)`, 'g'),
      )) {
        expect(called.outputs.has(output!), `module.${callName}.${output}`).toBe(true);
        outputsRead++;
      }
    }
    expect(outputsRead).toBeGreaterThan(0);
  });
});

describe('protected-service burn-rate alerts', () => {
  it('defaults to the SRE workbook windows: only the fast burn rolls back, both page', () => {
    const windows = asObject(defaults(modules['protected-service']).burn_rate_windows, 'burn_rate_windows');
    expect(Object.keys(windows).sort()).toEqual(['fast', 'slow']);
    for (const [name, expected] of Object.entries(WORKBOOK_WINDOWS)) {
      expect(windows[name]).toEqual({
        long_window: expected.long,
        short_window: expected.short,
        burn_rate: expected.burnRate,
        triggers_rollback: expected.rollsBack,
      });
    }
    // pages is optional(bool, true): both windows page.
    expect(squash(variable(modules['protected-service'], 'burn_rate_windows').type)).toContain(
      'pages = optional(bool, true)',
    );
  });

  it('ANDs the long and short window of select_slo_burn_rate on the SLO full name, above the burn rate', () => {
    const dir = modules['protected-service'];
    const slo = resource(dir, 'google_monitoring_slo.availability');
    expect(slo.goal).toBe(`\${var.slo_goal}`);
    expect(defaults(dir).slo_goal).toBe(0.999);
    expect(slo.rolling_period_days).toBe(`\${var.slo_rolling_period_days}`);
    expect(defaults(dir).slo_rolling_period_days).toBe(30);
    const ratio = block(block(slo, 'request_based_sli'), 'good_total_ratio');
    expect(ratio.bad_service_filter).toBe(
      `\${local.request_count_filter} AND metric.label."response_code_class"="5xx"`,
    );

    const policy = resource(dir, 'google_monitoring_alert_policy.burn_rate');
    expect(policy.for_each).toBe(`\${var.burn_rate_windows}`);
    const windows = asObject(defaults(dir).burn_rate_windows, 'burn_rate_windows');
    for (const [name, expected] of Object.entries(WORKBOOK_WINDOWS)) {
      const rendered = asObject(evaluate(policy, { each: { key: name, value: windows[name]! } }), name);
      expect(rendered.combiner).toBe('AND');
      const thresholds = blocks(rendered, 'conditions').map((condition) =>
        block(condition, 'condition_threshold'),
      );
      expect(thresholds.map((threshold) => threshold.filter)).toEqual(
        // .name is the SLO's full resource name, projects/P/services/S/serviceLevelObjectives/O.
        [expected.long, expected.short].map(
          (window) => `select_slo_burn_rate("\${google_monitoring_slo.availability.name}", "${window}")`,
        ),
      );
      for (const threshold of thresholds) {
        expect(threshold.comparison).toBe('COMPARISON_GT');
        expect(threshold.threshold_value).toBe(expected.burnRate);
      }
    }
  });

  it('sends only rollback windows to lastgood, labelled with the lastgood_target', () => {
    const dir = modules['protected-service'];
    expect(dir.locals.rollback_labels).toEqual({ lastgood_target: `\${var.target_name}` });
    const policy = resource(dir, 'google_monitoring_alert_policy.burn_rate');
    expect(squash(policy.user_labels)).toBe(
      `\${merge( { burn_rate_window = each.key }, each.value.triggers_rollback ? local.rollback_labels : {}, )}`,
    );
    expect(squash(policy.notification_channels)).toBe(
      `\${concat( each.value.triggers_rollback ? [var.lastgood_notification_channel] : [], each.value.pages ? var.paging_notification_channels : [], )}`,
    );
  });

  it('links the runbook from every alert', () => {
    const dir = modules['protected-service'];
    expect(dir.locals.runbook_url).toBe(`\${trimsuffix(var.runbook_base_url, "/")}/rollback-fired.md`);
    const documentation = block(resource(dir, 'google_monitoring_alert_policy.burn_rate'), 'documentation');
    expect(documentation.mime_type).toBe('text/markdown');
    expect(String(documentation.content)).toContain(`Runbook: \${local.runbook_url}`);
  });
});

describe('lastgood module', () => {
  it('points the notification channel at the webhook route the app registers', () => {
    const dir = modules.lastgood;
    expect(testApp.app.server.hasRoute({ method: webhookRoute.method, url: webhookRoute.path })).toBe(true);
    expect(dir.locals.webhook_path).toBe(webhookRoute.path);
    expect(dir.locals.webhook_url).toBe(`\${google_cloud_run_v2_service.lastgood.uri}\${local.webhook_path}`);

    const tokenParameter = Object.keys(webhookRoute.query.shape);
    expect(tokenParameter).toEqual(['auth_token']);
    expect(dir.locals.token_channel_labels).toEqual({
      url: `\${local.webhook_url}?${tokenParameter[0]}=\${random_password.webhook_token.result}`,
    });

    const channel = resource(dir, 'google_monitoring_notification_channel.lastgood');
    expect(defaults(dir).notification_channel_auth).toBe('token');
    expect(channel.type).toBe(
      `\${var.notification_channel_auth == "token" ? "webhook_tokenauth" : "webhook_basicauth"}`,
    );
    expect(channel.labels).toBe(
      `\${var.notification_channel_auth == "token" ? local.token_channel_labels : local.basic_channel_labels}`,
    );
  });

  it('probes the health routes the app registers', () => {
    const dir = modules.lastgood;
    const container = lastgoodContainer(dir);
    const probePath = (probe: string) =>
      evaluate(block(block(container, probe), 'http_get').path!, { local: dir.locals });
    expect(probePath('liveness_probe')).toBe(healthzRoute.path);
    expect(probePath('startup_probe')).toBe(readyzRoute.path);
    for (const route of [healthzRoute, readyzRoute]) {
      expect(testApp.app.server.hasRoute({ method: route.method, url: route.path })).toBe(true);
    }
  });

  it('keeps at least one instance with CPU always allocated so rollbacks run after the response', () => {
    const dir = modules.lastgood;
    const template = block(resource(dir, 'google_cloud_run_v2_service.lastgood'), 'template');
    expect(block(lastgoodContainer(dir), 'resources').cpu_idle).toBe(false);
    expect(block(template, 'scaling').min_instance_count).toBe(`\${var.min_instances}`);
    expect(defaults(dir).min_instances).toBe(1);
    expect(validations(dir, 'min_instances')).toEqual([`\${var.min_instances >= 1}`]);
  });

  it('configures lastgood with environment variables it accepts and mounts the policy where LASTGOOD_CONFIG points', () => {
    const dir = modules.lastgood;
    const locals = resolvedLocals(dir, defaults(dir));
    const env = asObject(locals.container_env, 'container_env');
    expect(env.NODE_ENV).toBe('production');
    expect(env.LASTGOOD_WEBHOOK_TOKEN_SECRET).toBe(`\${google_secret_manager_secret.webhook_token.id}`);

    const template = block(resource(dir, 'google_cloud_run_v2_service.lastgood'), 'template');
    const container = lastgoodContainer(dir);
    const mount = blocks(container, 'volume_mounts').find((entry) => entry.name === 'policy');
    const policyVolume = blocks(template, 'volumes').find((entry) => entry.name === 'policy');
    const item = block(block(asObject(policyVolume, 'policy volume'), 'secret'), 'items');
    const mounted = evaluate(`${mount?.mount_path}/${item.path}`, { local: locals });
    expect(env.LASTGOOD_CONFIG).toBe(mounted);

    // Values only known at apply time or set by optional inputs, as lastgood would see them.
    const sampleValues: Record<string, string> = {
      LASTGOOD_ENABLED: 'true',
      LASTGOOD_WEBHOOK_TOKEN_SECRET: 'projects/p/secrets/lastgood-webhook-token',
      LASTGOOD_OPERATOR_TOKENS: `oncall:operator:${'a'.repeat(64)}`,
      DATABASE_URL: 'postgres://lastgood@/lastgood?host=/cloudsql/p:us-central1:db',
      GOOGLE_CLOUD_PROJECT: 'lastgood-project',
      LASTGOOD_SESSION_SECRET: 'drawn-by-random-password-0123456789abcdefghijklmn',
    };
    // Every env block is dynamic: one over container_env, one per optional input.
    const envBlocks = (asObject(container.dynamic, 'dynamic').env as Json[]).map((entry) =>
      asObject(entry, 'dynamic env'),
    );
    const names = envBlocks.flatMap((entry) =>
      entry.for_each === `\${local.container_env}`
        ? Object.keys(env)
        : [String(block(entry, 'content').name)],
    );
    const containerEnv = Object.fromEntries(
      names.map((name) => {
        const value = sampleValues[name] ?? env[name];
        if (typeof value !== 'string' || value.includes('${')) throw new Error(`no sample value for ${name}`);
        return [name, value];
      }),
    );
    // NODE_ENV=production also runs lastgood's production safety checks.
    const config = loadConfig(containerEnv, () => EXAMPLE_POLICY);
    expect(config.policyFile).toBe(mounted);
    expect(config.production).toBe(true);
    expect(config.enabled).toBe(true);
    expect(config.operatorTokens).toHaveLength(1);
    expect(config.databaseUrl).toBe(sampleValues.DATABASE_URL);
    expect(config.webhookTokenSecret).toBe(sampleValues.LASTGOOD_WEBHOOK_TOKEN_SECRET);
    expect(config.log.traceProject).toBe(sampleValues.GOOGLE_CLOUD_PROJECT);
    expect(config.metricsLocalPort).toBe(Number(locals.metrics_local_port));
  });

  it('keeps the previous webhook token enabled across a rotation', () => {
    const dir = modules.lastgood;
    expect(resource(dir, 'random_password.webhook_token').keepers).toEqual({
      rotation: `\${var.webhook_token_rotation}`,
    });
    const version = resource(dir, 'google_secret_manager_secret_version.webhook_token');
    expect(version.secret_data).toBe(`\${random_password.webhook_token.result}`);
    expect(version.deletion_policy).toBe('ABANDON');
    expect(block(version, 'lifecycle').create_before_destroy).toBe(true);
  });
});

describe('IAM', () => {
  const iamResources = () =>
    allDirs.flatMap((dir) =>
      [...dir.resources]
        .filter(([address]) => /_iam_(member|binding|policy)\./.test(address))
        .map(([address, body]) => ({ where: `${dir.path}: ${address}`, dir, body })),
    );

  it('never grants roles/owner or roles/editor', () => {
    const roles = iamResources().map(({ body }) => String(body.role));
    expect(roles.length).toBeGreaterThan(5);
    expect(roles.filter((role) => /roles\/(owner|editor)\b/.test(role))).toEqual([]);
    expect(validations(modules['protected-service'], 'lastgood_run_role')).toEqual([
      `\${var.lastgood_run_role == null ? true : !contains(["roles/owner", "roles/editor", "roles/run.admin"], var.lastgood_run_role)}`,
    ]);
  });

  it("grants lastgood's service account only what rolling back and reading its own secrets need", () => {
    const lastgoodMembers = new Set([`\${local.member}`, `\${local.lastgood_member}`]);
    expect(modules.lastgood.locals.member).toBe(`serviceAccount:\${google_service_account.lastgood.email}`);
    expect(modules['protected-service'].locals.lastgood_member).toBe(
      `serviceAccount:\${var.lastgood_service_account_email}`,
    );
    const granted = iamResources()
      .filter(({ body }) => lastgoodMembers.has(String(body.member)))
      .map(({ where, body }) => ({ where, role: String(body.role), conditioned: 'condition' in body }));
    expect(new Set(granted.map(({ role }) => role))).toEqual(
      new Set([
        'roles/secretmanager.secretAccessor',
        'roles/secretmanager.viewer',
        `\${google_project_iam_custom_role.operation_reader.name}`,
        'roles/cloudsql.client',
        `\${var.lastgood_run_role}`,
        'roles/iam.serviceAccountUser',
        'roles/clouddeploy.operator',
        'roles/monitoring.metricWriter',
        'roles/monitoring.viewer',
      ]),
    );
    // Project-wide grants: reading operations, and a Cloud SQL client limited to one instance.
    const projectWide = granted
      .filter(({ where }) => where.includes('google_project_iam_member'))
      .map(({ role, conditioned }) => (conditioned ? `${role} (conditioned)` : role))
      .sort();
    // Writing metrics (the sidecar's export) and reading the protected projects' metrics (the evidence).
    expect(projectWide).toEqual([
      `\${google_project_iam_custom_role.operation_reader.name}`,
      'roles/cloudsql.client (conditioned)',
      'roles/monitoring.metricWriter',
      'roles/monitoring.viewer',
    ]);

    const customRoles = Object.fromEntries(
      [...modules.lastgood.resources]
        .filter(([address]) => address.startsWith('google_project_iam_custom_role.'))
        .map(([address, body]) => [address, evaluate(body.permissions!, { local: modules.lastgood.locals })]),
    );
    expect(customRoles).toEqual({
      'google_project_iam_custom_role.rollback': [
        'run.revisions.get',
        'run.revisions.list',
        'run.services.get',
        'run.services.update',
      ],
      'google_project_iam_custom_role.operation_reader': ['clouddeploy.operations.get', 'run.operations.get'],
    });
  });
});

describe('complete example', () => {
  function exampleValues() {
    const vars: JsonObject = { ...defaults(example), project_id: EXAMPLE_PROJECT };
    return { vars, locals: resolvedLocals(example, vars) };
  }

  it("labels the rollback alerts with a target of the policy file it gives lastgood, parsed by lastgood's parser", () => {
    const { vars, locals } = exampleValues();
    const lastgood = asObject(example.moduleCalls.get('lastgood'), 'module.lastgood');
    expect(lastgood.policy_yaml).toBe(`\${templatefile("\${path.module}/lastgood.yaml", local.policy_vars)}`);
    const policyText = renderTemplate(
      readFileSync(join(EXAMPLE_PATH, 'lastgood.yaml'), 'utf8'),
      asObject(locals.policy_vars, 'policy_vars'),
    );
    const targets = parsePolicyFile(policyText, 'terraform/examples/complete/lastgood.yaml');

    const protection = asObject(
      evaluate(asObject(example.moduleCalls.get('storefront_protection'), 'protection'), {
        var: vars,
        local: locals,
      }),
      'protection',
    );
    const targetName = String(protection.target_name);
    expect(targets.has(targetName), `policy targets: ${[...targets.keys()]}`).toBe(true);
    const target = targets.get(targetName)!;
    if (target.kind !== 'cloud-deploy') throw new Error(`${targetName} should be a cloud-deploy target`);
    expect(target.policy.signal).toEqual({ kind: 'burn_rate', sloGoal: protection.slo_goal });
    expect(target.project).toBe(EXAMPLE_PROJECT);
    expect(target.region).toBe(vars.region);
    expect(target.target).toBe(asObject(protection.cloud_deploy, 'cloud_deploy').target);

    const pipeline = asObject(
      evaluate(asObject(example.moduleCalls.get('storefront_pipeline'), 'pipeline'), {
        var: vars,
        local: locals,
      }),
      'pipeline',
    );
    expect(pipeline.pipeline_name).toBe(target.pipeline);
    const canaryTargets = (pipeline.stages as Json[])
      .map((stage) => asObject(stage, 'stage'))
      .filter((stage) => stage.canary === true)
      .map((stage) => stage.target_id);
    expect(canaryTargets).toEqual([target.target]);
  });

  it('lets Cloud Deploy and lastgood own the traffic of the Cloud Run service Terraform creates', () => {
    const service = resource(example, 'google_cloud_run_v2_service.storefront');
    expect(block(service, 'lifecycle').ignore_changes).toEqual(expect.arrayContaining([`\${traffic}`]));
    const protection = asObject(example.moduleCalls.get('storefront_protection'), 'protection');
    expect(protection.service_name).toBe(`\${google_cloud_run_v2_service.storefront.name}`);
  });
});

describe('cloud-deploy-pipeline', () => {
  it("matches the seed's pipeline: staging, then a production canary of 25%, 50%, then 100%", () => {
    const dir = modules['cloud-deploy-pipeline'];
    expect(defaults(dir).stages).toEqual([
      { target_id: 'staging', profiles: ['staging'] },
      { target_id: 'production', profiles: ['production'], canary: true },
    ]);
    // Cloud Deploy takes the phases below 100; the final 100% stable phase always follows.
    expect(defaults(dir).canary_percentages).toEqual([25, 50]);
    const pipeline = resource(dir, 'google_clouddeploy_delivery_pipeline.pipeline');
    const stage = dynamicBlock(block(pipeline, 'serial_pipeline'), 'stages');
    expect(stage.for_each).toBe(`\${var.stages}`);
    const strategy = dynamicBlock(block(stage, 'content'), 'strategy');
    expect(strategy.for_each).toBe(`\${stages.value.canary ? [stages.value.target_id] : []}`);
    const canary = block(block(strategy, 'content'), 'canary');
    expect(block(block(canary, 'runtime_config'), 'cloud_run').automatic_traffic_control).toBe(true);
    expect(block(canary, 'canary_deployment').percentages).toBe(`\${var.canary_percentages}`);
  });
});

describe('Cloud Monitoring: the metrics sidecar, dashboards, uptime check and self-alerts', () => {
  /** Labels the Managed Service for Prometheus collector adds to every series it exports. */
  const COLLECTOR_LABELS = [
    'project_id',
    'location',
    'cluster',
    'namespace',
    'job',
    'instance',
    'instanceId',
  ];
  const RUNBOOKS = fileURLToPath(new URL('../../runbooks/', import.meta.url));
  let scrapeText: string;
  /** Each series name lastgood's registry declares, with its label names; a histogram's series with theirs. */
  const declaredLabels = new Map<string, string[]>();

  beforeAll(async () => {
    // Every metric lastgood registers, with a target's counters at 0 for every reason and result.
    const metrics = createMetrics({ pendingJobCount: async () => 0, outboxBacklog: async () => 0 }, [
      'checkout',
    ]);
    scrapeText = await metrics.render();
    for (const metric of metrics.registry.getMetricsAsArray()) {
      const labels = [...((metric as unknown as { labelNames?: string[] }).labelNames ?? [])];
      if (String(metric.type) === 'histogram') {
        declaredLabels.set(`${metric.name}_bucket`, [...labels, 'le']);
        for (const suffix of ['_sum', '_count']) declaredLabels.set(`${metric.name}${suffix}`, labels);
      } else declaredLabels.set(metric.name, labels);
    }
  });

  function lastgoodLocals(): JsonObject {
    const dir = modules.lastgood;
    return resolvedLocals(dir, { ...defaults(dir), project_id: 'lastgood-project' });
  }

  function protectedLocals(): JsonObject {
    const dir = modules['protected-service'];
    return resolvedLocals(dir, {
      ...defaults(dir),
      target_name: 'checkout',
      project_id: 'demo-project',
      region: 'us-central1',
      service_name: 'checkout',
    });
  }

  /** Every PromQL query under a value: dashboards' prometheusQuery and alert conditions' query. */
  function promqlQueries(value: Json): string[] {
    if (Array.isArray(value)) return value.flatMap(promqlQueries);
    if (value === null || typeof value !== 'object') return [];
    return Object.entries(value).flatMap(([key, item]) =>
      key === 'prometheusQuery' && typeof item === 'string' ? [item] : promqlQueries(item),
    );
  }

  function selfAlerts(): [string, JsonObject][] {
    return [...modules.lastgood.resources].filter(([address]) =>
      address.startsWith('google_monitoring_alert_policy.'),
    );
  }

  it('runs the collector beside lastgood, scraping the token-free /metrics on the port lastgood is given', () => {
    const dir = modules.lastgood;
    const locals = lastgoodLocals();
    const template = block(resource(dir, 'google_cloud_run_v2_service.lastgood'), 'template');
    const sidecar = blocks(template, 'containers').find((container) => !('ports' in container));
    expect(sidecar?.image).toBe(`\${var.metrics_collector_image}`);
    expect(defaults(dir).metrics_collector_image).toMatch(
      /^us-docker\.pkg\.dev\/cloud-ops-agents-artifacts\/cloud-run-gmp-sidecar\/cloud-run-gmp-sidecar:\d+\.\d+\.\d+$/,
    );
    expect(evaluate(sidecar!.depends_on!, { local: locals })).toEqual([
      evaluate(lastgoodContainer(dir).name!, { local: locals }),
    ]);

    // The collector reads /etc/rungmp/config.yaml; the module mounts the rendered RunMonitoring there.
    const mount = block(sidecar!, 'volume_mounts');
    const volume = blocks(template, 'volumes').find((entry) => entry.name === mount.name);
    expect(evaluate(mount.mount_path!, { local: locals })).toBe('/etc/rungmp');
    expect(evaluate(block(block(volume!, 'secret'), 'items').path!, { local: locals })).toBe('config.yaml');
    expect(resource(dir, 'google_secret_manager_secret_version.run_monitoring').secret_data).toBe(
      `\${yamlencode(local.run_monitoring)}`,
    );

    const runMonitoring = asObject(locals.run_monitoring, 'run_monitoring');
    expect(runMonitoring).toMatchObject({
      apiVersion: 'monitoring.googleapis.com/v1beta',
      kind: 'RunMonitoring',
    });
    const spec = asObject(runMonitoring.spec, 'spec');
    const endpoints = spec.endpoints as JsonObject[];
    expect(endpoints).toEqual([
      {
        port: asObject(locals.container_env, 'env').LASTGOOD_METRICS_LOCAL_PORT,
        path: prometheusMetricsRoute.path,
        interval: '30s',
      },
    ]);
    // Each instance its own series.
    expect(asObject(spec.targetLabels, 'targetLabels').metadata).toContain('instance');
  });

  it("gives lastgood's dashboard a chart for each question, querying metrics and labels lastgood exports", () => {
    const dir = modules.lastgood;
    const locals = lastgoodLocals();
    const promqlCharts = locals.promql_charts as JsonObject[];
    const runCharts = locals.run_charts as JsonObject[];
    const titles = [...promqlCharts, ...runCharts].map((chart) => String(chart.title));
    for (const question of [
      /^Decisions by reason/,
      /^Rollbacks by result/,
      /^Time to rollback/,
      /^Holds/,
      /^Google API errors/,
      /job queue depth/,
      /^Outbox backlog/,
      /^Instances running/,
      /latency/,
    ]) {
      expect(
        titles.some((title) => question.test(title)),
        String(question),
      ).toBe(true);
    }
    const queriesOf = (pattern: RegExp) =>
      promqlCharts.find((chart) => pattern.test(String(chart.title)))?.queries as string[];
    expect(queriesOf(/^Holds/)).toEqual([
      'sum by (target) (increase(lastgood_rollbacks_total{namespace="lastgood",result="held"}[1h]))',
    ]);
    expect(queriesOf(/^Decisions by reason/)[0]).toContain(
      'sum by (reason) (increase(lastgood_decisions_total',
    );
    const queries = promqlCharts.flatMap((chart) => chart.queries as string[]);
    expect(queries.length).toBeGreaterThanOrEqual(10);
    for (const query of queries) {
      expect(promqlProblems(query, scrapeText, COLLECTOR_LABELS, declaredLabels), query).toEqual([]);
    }
    // Cloud Run's own metrics for this service: instances and latency.
    expect(runCharts.map((chart) => chart.metric)).toEqual([
      'run.googleapis.com/container/instance_count',
      'run.googleapis.com/request_latencies',
    ]);

    // Every chart becomes a widget, and every widget a tile.
    const widgets = squash(dir.locals.dashboard_widgets);
    expect(widgets).toContain('for chart in local.promql_charts');
    expect(widgets).toContain('prometheusQuery = query');
    expect(widgets).toContain('for chart in local.run_charts');
    expect(widgets).toContain(`resource.label.\\"service_name\\"=\\"\${var.name}\\"`);
    expect(squash(resource(dir, 'google_monitoring_dashboard.lastgood').dashboard_json)).toContain(
      'for index, widget in local.dashboard_widgets',
    );
  });

  it('checks /healthz from outside with an uptime check, and alerts when it fails', () => {
    const dir = modules.lastgood;
    const check = resource(dir, 'google_monitoring_uptime_check_config.healthz');
    expect(evaluate(block(check, 'http_check').path!, { local: dir.locals })).toBe(healthzRoute.path);
    expect(block(check, 'monitored_resource')).toMatchObject({
      type: 'uptime_url',
      labels: { host: `\${trimprefix(google_cloud_run_v2_service.lastgood.uri, "https://")}` },
    });
    const condition = block(
      block(resource(dir, 'google_monitoring_alert_policy.lastgood_down'), 'conditions'),
      'condition_threshold',
    );
    expect(condition.filter).toContain('monitoring.googleapis.com/uptime_check/check_passed');
    expect(condition.filter).toContain(`\${google_monitoring_uptime_check_config.healthz.uptime_check_id}`);
  });

  it("alerts on lastgood's own trouble, routed to the given channels, each linking a runbook that exists", () => {
    const locals = lastgoodLocals();
    const promqlAlerts = asObject(locals.promql_alerts, 'promql_alerts');
    expect(Object.keys(promqlAlerts).sort()).toEqual([
      'outbox_backlog',
      'rollback_failed',
      'rollback_not_healed',
    ]);
    expect(
      selfAlerts()
        .map(([address]) => address.split('.')[1])
        .sort(),
    ).toEqual(['lastgood_down', 'promql', 'rollback_skipped_deploy_in_progress']);
    // Each policy as Terraform creates it: the for_each one once per PromQL alert.
    const policies = selfAlerts().flatMap(([address, policy]) =>
      policy.for_each === `\${local.promql_alerts}`
        ? Object.entries(promqlAlerts).map(
            ([key, value]) =>
              [`${address}["${key}"]`, asObject(evaluate(policy, { each: { key, value } }), key)] as const,
          )
        : [[address, policy] as const],
    );
    expect(policies).toHaveLength(5);
    for (const [address, policy] of policies) {
      expect(policy.notification_channels, address).toBe(`\${var.alert_notification_channels}`);
      const content = String(block(policy, 'documentation').content);
      const [, page] = /\n\nRunbook: \$\{local\.runbook_base\}\/([\w-]+\.md)$/.exec(content) ?? [];
      expect(page, `${address}: ${content}`).toBeDefined();
      expect(existsSync(join(RUNBOOKS, page!)), page).toBe(true);
    }
    expect(lastgoodLocals().runbook_base).toBe(`\${trimsuffix(var.runbook_base_url, "/")}`);
  });

  it('names in its alert queries only metrics, labels and values lastgood exports', () => {
    const promqlAlerts = asObject(lastgoodLocals().promql_alerts, 'promql_alerts');
    const policy = resource(modules.lastgood, 'google_monitoring_alert_policy.promql');
    expect(block(block(policy, 'conditions'), 'condition_prometheus_query_language').query).toBe(
      `\${each.value.query}`,
    );
    const queries = Object.values(promqlAlerts).map((alert) => String(asObject(alert, 'alert').query));
    expect(queries).toHaveLength(3);
    expect(queries).toEqual(
      expect.arrayContaining([
        'sum by (target, result) (increase(lastgood_rollbacks_total{namespace="lastgood",result=~"failed|no_lkg"}[15m])) > 0',
        'sum(increase(lastgood_rollbacks_not_healed_total{namespace="lastgood"}[15m])) > 0',
        'max(lastgood_outbox_backlog{namespace="lastgood"}) > 0',
      ]),
    );
    for (const query of queries) {
      expect(promqlProblems(query, scrapeText, COLLECTOR_LABELS, declaredLabels), query).toEqual([]);
    }
  });

  it("counts DEPLOY_IN_PROGRESS skips from the line lastgood logs for them, labelled by the line's target", () => {
    const dir = modules.lastgood;
    const metric = resource(dir, 'google_logging_metric.skipped_deploy_in_progress');
    const filter = String(evaluate(metric.filter!, { local: lastgoodLocals() }));
    const [, message] = /jsonPayload\.message="([^"]+)"/.exec(filter) ?? [];
    const [, code] = /jsonPayload\.outcome\.errorCode="([^"]+)"/.exec(filter) ?? [];
    expect(ROLLBACK_ERROR_CODES).toContain(code);
    // The worker logs a skip as `rollback ended ${outcome.state}` with the outcome beside it.
    const worker = readFileSync(new URL('../../src/jobs/rollback-worker.ts', import.meta.url), 'utf8');
    expect(worker).toContain('log.warn({ outcome }, `rollback ended $' + '{outcome.state}`)');
    expect(message).toBe('rollback ended skipped');
    expect(metric.label_extractors).toEqual({ target: 'EXTRACT(labels.target)' });
    const condition = block(
      block(
        resource(dir, 'google_monitoring_alert_policy.rollback_skipped_deploy_in_progress'),
        'conditions',
      ),
      'condition_threshold',
    );
    expect(condition.filter).toContain(
      `logging.googleapis.com/user/\${google_logging_metric.skipped_deploy_in_progress.name}`,
    );
  });

  it('grants lastgood monitoring.viewer on every project its policy file protects', () => {
    const dir = modules.lastgood;
    expect(dir.locals.protected_projects).toBe(
      `\${toset([for target in values(yamldecode(var.policy_yaml).targets) : target.project])}`,
    );
    expect(resource(dir, 'google_project_iam_member.monitoring_viewer')).toMatchObject({
      for_each: `\${local.protected_projects}`,
      project: `\${each.value}`,
      role: 'roles/monitoring.viewer',
    });
  });

  it("gives each protected service a dashboard: SLO compliance, each window's burn rate, errors per revision, lastgood's rollbacks", () => {
    const dir = modules['protected-service'];
    const locals = protectedLocals();
    const slo = JSON.stringify(locals.slo_widgets);
    expect(slo).toContain(`select_slo_compliance(\\"\${google_monitoring_slo.availability.name}\\")`);

    // One chart per burn-rate window, over its long and short window, like the alert policy.
    const burnRate = squash(dir.locals.burn_rate_widgets);
    expect(burnRate).toContain('for name, window in var.burn_rate_windows');
    expect(burnRate).toContain('for lookback in [window.long_window, window.short_window]');
    expect(burnRate).toContain(
      `select_slo_burn_rate(\\"\${google_monitoring_slo.availability.name}\\", \\"\${lookback}\\")`,
    );

    const revisions = locals.revision_widgets as JsonObject[];
    // Requests per revision and response code class, as lastgood's evidence reads them.
    expect(String(dir.locals.request_count_filter)).toContain(
      'metric.type=\\"run.googleapis.com/request_count\\"',
    );
    const text = JSON.stringify(dir.locals.revision_widgets);
    for (const part of [
      'local.request_count_filter',
      'revision_name',
      'response_code_class',
      '5xx',
      'timeSeriesFilterRatio',
    ]) {
      expect(text).toContain(part);
    }
    const queries = promqlQueries(revisions);
    expect(queries).toEqual([
      'sum by (reason) (increase(lastgood_decisions_total{target="checkout"}[5m]))',
      'sum by (result) (increase(lastgood_rollbacks_total{target="checkout"}[5m]))',
    ]);
    for (const query of queries)
      expect(promqlProblems(query, scrapeText, COLLECTOR_LABELS, declaredLabels), query).toEqual([]);
    // lastgood's lines for this target, by the label lastgood gives them.
    expect(JSON.stringify(revisions)).toContain('labels.target=\\"checkout\\"');

    expect(squash(resource(dir, 'google_monitoring_dashboard.target').dashboard_json)).toContain(
      'concat(local.slo_widgets, local.burn_rate_widgets, local.revision_widgets)',
    );
  });
});
