import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '@tasktier/testkit';
import { afterAll, describe, expect, test } from 'vitest';
import { parse, stringify } from 'yaml';
import { monitoringRuleGroups, type RuleGroup } from './lib/rules.ts';

// The monitoring component's alerts, checked and unit-tested by Prometheus's own promtool (Debian's
// `prometheus` package): the rule groups of the PrometheusRule are written to a rule file and
// rules/alerts.test.yaml runs against it.

const UNIT_TESTS = new URL('./rules/alerts.test.yaml', import.meta.url);
const dir = mkdtempSync(join(tmpdir(), 'tasktier-rules-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeRules(groups: RuleGroup[]): void {
  writeFileSync(join(dir, 'rules.yaml'), stringify({ groups }));
  copyFileSync(UNIT_TESTS, join(dir, 'alerts.test.yaml'));
}

const groups = monitoringRuleGroups();
const alertNames = groups.flatMap((group) => group.rules.map((rule) => rule.alert));

describe('the alerts, by promtool', () => {
  test('promtool check rules accepts the rule groups', async () => {
    writeRules(groups);
    const result = await run('promtool', ['check', 'rules', join(dir, 'rules.yaml')], { timeoutMs: 30_000 });
    expect(result.output).toContain(`SUCCESS: ${alertNames.length} rules found`);
    expect(result.code).toBe(0);
  });

  test('every alert has a promtool unit test where it fires and one where it does not', () => {
    interface UnitTests {
      tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }>;
    }
    const unitTests = parse(readFileSync(UNIT_TESTS, 'utf8')) as UnitTests;
    const cases = unitTests.tests.flatMap((unit) => unit.alert_rule_test ?? []);
    for (const name of alertNames) {
      const mine = cases.filter((unit) => unit.alertname === name);
      expect(
        mine.some((unit) => (unit.exp_alerts ?? []).length > 0),
        `${name} has no case where it fires`,
      ).toBe(true);
      expect(
        mine.some((unit) => (unit.exp_alerts ?? []).length === 0),
        `${name} has no case where it stays quiet`,
      ).toBe(true);
    }
    expect(alertNames.length).toBeGreaterThanOrEqual(16);
  });

  test('promtool test rules passes every unit test', async () => {
    writeRules(groups);
    const result = await run('promtool', ['test', 'rules', 'alerts.test.yaml'], { cwd: dir, timeoutMs: 60_000 });
    expect(result.output).toContain('SUCCESS');
    expect(result.code, result.output).toBe(0);
  });

  test('the unit tests catch a changed threshold (a rule that would no longer fire)', async () => {
    const mutated = structuredClone(groups);
    const memory = mutated
      .flatMap((group) => group.rules)
      .find((rule) => rule.alert === 'TasktierRedisMemoryNearLimit');
    expect(memory?.expr).toContain('> 0.85');
    memory!.expr = memory!.expr.replace('> 0.85', '> 0.95');
    writeRules(mutated);
    const result = await run('promtool', ['test', 'rules', 'alerts.test.yaml'], { cwd: dir, timeoutMs: 60_000 });
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('alertname: TasktierRedisMemoryNearLimit');
  });
});
