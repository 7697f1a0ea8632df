import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '@tasktier/testkit';
import { parse } from 'yaml';

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
}

export interface RuleGroup {
  name: string;
  rules: AlertRule[];
}

/** The rule groups of the monitoring component's PrometheusRule, as a Prometheus rule file holds them. */
export function monitoringRuleGroups(): RuleGroup[] {
  const file = join(repoRoot, 'deploy/k8s/components/monitoring/prometheusrule.yaml');
  const rule = parse(readFileSync(file, 'utf8')) as { spec: { groups: RuleGroup[] } };
  return rule.spec.groups;
}
