import type { ICertificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate';
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import type { Expectations } from './expectations.ts';
import { gatewayTlsSecrets } from './gateway.ts';
import type { Add } from './pod-checks.ts';
import { type K8sObject, ref } from './types.ts';

// The cert-manager component: one Certificate that keeps the Secret the entry serves issued and
// renewed, for the host and nothing else, with a new key on every renewal. Without the component,
// no Certificate (a second one for the same Secret would fight over it).

/** Secret names the entry (Ingress tls, Gateway listeners) serves certificates from. */
export function entryTlsSecrets(objects: readonly K8sObject[]): string[] {
  const ingress = objects
    .filter((object) => object.kind === 'Ingress')
    .flatMap((object) => ((object as IIngress & K8sObject).spec?.tls ?? []).map((entry) => entry.secretName ?? ''));
  return [...ingress, ...gatewayTlsSecrets(objects)].filter((name) => name !== '');
}

export function checkCertificate(objects: readonly K8sObject[], expected: Expectations, add: Add): void {
  const certificates = objects.filter((object) => object.kind === 'Certificate') as (ICertificate & K8sObject)[];
  if (!expected.certManager) {
    for (const certificate of certificates)
      add('certificate/unexpected', ref(certificate), 'a Certificate without the cert-manager component');
    return;
  }
  if (certificates.length !== 1) {
    add('certificate/count', 'Certificate', `expected exactly one Certificate, found ${certificates.length}`);
    return;
  }
  const certificate = certificates[0]!;
  const owner = ref(certificate);
  const spec = certificate.spec;
  const served = entryTlsSecrets(objects);
  if (served.length === 0)
    add('certificate/served', owner, 'the entry serves no TLS: the certificate would be issued and never used');
  else if (!served.includes(spec.secretName))
    add('certificate/served', owner, `writes Secret ${spec.secretName}, the entry serves ${served.join(', ')}`);
  const names = [...(spec.dnsNames ?? []), ...(spec.commonName ? [spec.commonName] : [])];
  if (!names.includes(expected.ingress.host) || names.some((name) => name !== expected.ingress.host))
    add('certificate/names', owner, `names ${names.join(', ') || 'nothing'}, expected only ${expected.ingress.host}`);
  if (spec.privateKey?.rotationPolicy !== 'Always')
    add('certificate/key-rotation', owner, 'privateKey.rotationPolicy must be Always: a new key with every renewal');
  if (!spec.issuerRef?.name) add('certificate/issuer', owner, 'no issuerRef');
}
