export interface RouteOptions {
  /** Whether a peer address is a trusted proxy (whose X-Forwarded-* headers we believe). */
  trustedProxy: (address: string) => boolean;
}
