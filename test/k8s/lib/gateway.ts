import type { IGateway } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway';
import type { IHTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import type { IService } from 'kubernetes-models/v1/Service';
import type { Expectations } from './expectations.ts';
import type { Add } from './pod-checks.ts';
import { findObject, type K8sObject, ref } from './types.ts';

// The Gateway entry (the gateway-api component), held to what the Ingress promises: HTTPS for the
// host with plain HTTP only redirected, HSTS, every route to the frontend's http port (never a
// metrics port), the live-sync stream without a request timeout, no raw configuration. Per-client
// limits, stickiness and access logs are implementation policies (implementations/*.yaml), checked
// by entries.test.ts.

export type Gateway = IGateway & K8sObject;
export type HttpRoute = IHTTPRoute & K8sObject;
type Rule = NonNullable<IHTTPRoute['spec']>['rules'] extends (infer R)[] | undefined ? R : never;
type Match = NonNullable<Rule['matches']>[number];

/** A path of the live-sync stream, as the UI asks for it (the list id is made up). */
export const EVENT_STREAM_PATH = '/api/lists/Zq3xV0aB9kLm2Np4/events';

/** Whether a route match selects GET `path` (headers and query parameters: none are sent). */
export function matchSelects(match: Match, method: string, path: string): boolean {
  if (match.method !== undefined && match.method !== method) return false;
  if ((match.headers ?? []).length > 0 || (match.queryParams ?? []).length > 0) return false;
  const type = match.path?.type ?? 'PathPrefix';
  const value = match.path?.value ?? '/';
  if (type === 'Exact') return path === value;
  if (type === 'RegularExpression') return new RegExp(value).test(path);
  // PathPrefix matches whole segments: /api matches /api and /api/x, not /apix.
  const prefix = value.endsWith('/') ? value : `${value}/`;
  return path === value || path.startsWith(prefix) || value === '/';
}

/** The rule a request goes to: Exact, then RegularExpression, then the longest prefix (Gateway API precedence). */
export function ruleFor(route: HttpRoute, method: string, path: string): Rule | undefined {
  const rank = (match: Match): number => {
    const type = match.path?.type ?? 'PathPrefix';
    if (type === 'Exact') return 1e6;
    if (type === 'RegularExpression') return 1e5;
    return (match.path?.value ?? '/').length;
  };
  let best: { rule: Rule; rank: number } | undefined;
  for (const rule of route.spec?.rules ?? []) {
    const matches =
      rule.matches && rule.matches.length > 0 ? rule.matches : [{ path: { type: 'PathPrefix' as const, value: '/' } }];
    for (const match of matches) {
      if (matchSelects(match, method, path) && (!best || rank(match) > best.rank)) best = { rule, rank: rank(match) };
    }
  }
  return best?.rule;
}

/** Secret names the Gateway's HTTPS listeners serve (for the TLS key's consumers and the Certificate). */
export function gatewayTlsSecrets(objects: readonly K8sObject[]): string[] {
  return (objects.filter((object) => object.kind === 'Gateway') as Gateway[]).flatMap((gateway) =>
    (gateway.spec?.listeners ?? []).flatMap((listener) =>
      (listener.tls?.certificateRefs ?? []).filter((ref) => (ref.kind ?? 'Secret') === 'Secret').map((ref) => ref.name),
    ),
  );
}

const seconds = (duration: string | undefined): number | undefined => {
  if (duration === undefined) return undefined;
  let total = 0;
  for (const [, amount, unit] of duration.matchAll(/(\d+)(h|ms|m|s)/g)) {
    total += Number(amount) * ({ h: 3600, m: 60, s: 1, ms: 0.001 }[unit as 'h' | 'm' | 's' | 'ms'] ?? 0);
  }
  return total;
};

export function checkGateway(objects: readonly K8sObject[], expected: Expectations, add: Add): void {
  const ingresses = objects.filter((object) => object.kind === 'Ingress');
  for (const ingress of ingresses)
    add('gateway/one-entry', ref(ingress), 'an Ingress next to the Gateway: two ways in, two sets of rules');
  const gateways = objects.filter((object) => object.kind === 'Gateway') as Gateway[];
  if (gateways.length !== 1) {
    add('gateway/count', 'Gateway', `expected exactly one Gateway, found ${gateways.length}`);
    return;
  }
  const gateway = gateways[0]!;
  const owner = ref(gateway);
  const host = expected.ingress.host;
  const listeners = gateway.spec?.listeners ?? [];
  for (const listener of listeners) {
    if (listener.hostname !== host)
      add(
        'gateway/host',
        owner,
        `listener ${listener.name} serves ${listener.hostname ?? 'every host'}, expected only ${host}`,
      );
    if ((listener.allowedRoutes?.namespaces?.from ?? 'Same') !== 'Same')
      add('gateway/routes-namespace', owner, `listener ${listener.name} accepts routes from other namespaces`);
  }
  const https = listeners.filter(
    (listener) =>
      listener.protocol === 'HTTPS' &&
      (listener.tls?.mode ?? 'Terminate') === 'Terminate' &&
      (listener.tls?.certificateRefs ?? []).length > 0,
  );
  if (https.length === 0)
    add(
      'gateway/tls',
      owner,
      `no HTTPS listener with a certificate for ${host}: list links (the credential) in clear text`,
    );
  const plain = listeners.filter((listener) => listener.protocol === 'HTTP');

  const routes = (objects.filter((object) => object.kind === 'HTTPRoute') as HttpRoute[]).filter((route) =>
    (route.spec?.parentRefs ?? []).some((parent) => parent.name === gateway.metadata.name),
  );
  if (routes.length === 0) add('gateway/routes', owner, 'no HTTPRoute attaches to it');
  const frontend = findObject(objects, 'Service', 'frontend') as (IService & K8sObject) | undefined;
  const httpPort = frontend?.spec?.ports?.find((entry) => entry.name === 'http');
  const attachedTo = (route: HttpRoute, names: string[]): boolean =>
    (route.spec?.parentRefs ?? []).some(
      (parent) => parent.sectionName === undefined || names.includes(parent.sectionName),
    );

  for (const route of routes) {
    const routeOwner = ref(route);
    for (const hostname of route.spec?.hostnames ?? ['(every host)'])
      if (hostname !== host) add('gateway/host', routeOwner, `serves ${hostname}, expected only ${host}`);
    const onPlain = attachedTo(
      route,
      plain.map((listener) => listener.name),
    );
    for (const rule of route.spec?.rules ?? []) {
      const filters = rule.filters ?? [];
      for (const filter of filters) {
        // An implementation's filter can carry raw configuration (NGINX Gateway Fabric's
        // SnippetsFilter): it can undo every setting checked here.
        if (filter.type === 'ExtensionRef')
          add(
            'gateway/snippet',
            routeOwner,
            `filter ${filter.extensionRef?.kind}/${filter.extensionRef?.name}: configuration the audit cannot see`,
          );
      }
      const redirect = filters.find((filter) => filter.type === 'RequestRedirect')?.requestRedirect;
      if (onPlain) {
        // Plain HTTP: only a redirect to HTTPS, never the app.
        if (redirect?.scheme !== 'https' || (rule.backendRefs ?? []).length > 0)
          add(
            'gateway/https-redirect',
            routeOwner,
            'a rule on the plain HTTP listener serves the app instead of redirecting to https',
          );
        continue;
      }
      const hsts = filters
        .find((filter) => filter.type === 'ResponseHeaderModifier')
        ?.responseHeaderModifier?.set?.find((header) => header.name.toLowerCase() === 'strict-transport-security');
      const maxAge = Number(/max-age=(\d+)/.exec(hsts?.value ?? '')?.[1] ?? 0);
      if (maxAge < 31_536_000)
        add(
          'gateway/hsts',
          routeOwner,
          'every HTTPS rule must set Strict-Transport-Security with max-age of a year or more',
        );
      for (const backend of rule.backendRefs ?? []) {
        const kind = backend.kind ?? 'Service';
        // Blue-green by weights routes to the per-slot Services frontend-blue / frontend-green.
        const service = findObject(objects, 'Service', backend.name) as (IService & K8sObject) | undefined;
        const port = service?.spec?.ports?.find((entry) => entry.port === backend.port);
        const selectsFrontend = service?.spec?.selector?.['app.kubernetes.io/name'] === 'frontend';
        if (kind !== 'Service' || !selectsFrontend || port?.name !== 'http' || port.port !== httpPort?.port) {
          add(
            'gateway/backend',
            routeOwner,
            `routes to ${kind}/${backend.name}:${backend.port}, expected a frontend Service's http port (${httpPort?.port ?? 8080})`,
          );
        }
      }
    }
    if (!onPlain) {
      const stream = ruleFor(route, 'GET', EVENT_STREAM_PATH);
      const other = ruleFor(route, 'GET', '/api/lists/Zq3xV0aB9kLm2Np4');
      if (
        stream &&
        (stream === other ||
          seconds(stream.timeouts?.request) !== 0 ||
          (seconds(stream.timeouts?.backendRequest) ?? 0) !== 0)
      ) {
        add(
          'gateway/event-stream',
          routeOwner,
          `GET ${EVENT_STREAM_PATH.replace(/lists\/[^/]+/, 'lists/<id>')} needs a rule of its own with timeouts.request "0s": a live-sync stream stays open until its pod drains`,
        );
      }
      if (other && (seconds(other.timeouts?.request) ?? 0) === 0)
        add('gateway/timeouts', routeOwner, 'ordinary requests need a finite timeouts.request');
    }
  }
  const https443 = routes.some(
    (route) =>
      attachedTo(
        route,
        https.map((listener) => listener.name),
      ) && ruleFor(route, 'GET', '/'),
  );
  if (https.length > 0 && !https443) add('gateway/routes', owner, `no HTTPS route serves GET / on ${host}`);
  if (
    plain.length > 0 &&
    !routes.some((route) =>
      attachedTo(
        route,
        plain.map((listener) => listener.name),
      ),
    )
  )
    add('gateway/https-redirect', owner, 'the plain HTTP listener has no redirect route (implementations answer 404)');
}
