import type { Notice } from '../store/list-store.ts';

/** The notice above the list (offline, refused for now, an error), if any. */
export function NoticeBanner({ notice, onDismiss }: { notice: Notice; onDismiss(): void }) {
  // The live region is always in the page, so screen readers announce what appears in it.
  return (
    <div class="banner-region" role="status" aria-live="polite">
      {notice?.kind === 'limited' && <p class="banner banner-limited">{notice.message}</p>}
      {notice?.kind === 'offline' && (
        <p class="banner banner-offline">
          Cannot reach the server. Showing the list as last seen; changes are not saved until it is back. Reconnecting…
        </p>
      )}
      {notice?.kind === 'error' && (
        <p class="banner banner-error">
          {notice.message}
          <button type="button" class="banner-dismiss" aria-label="Dismiss this message" onClick={onDismiss}>
            ×
          </button>
        </p>
      )}
    </div>
  );
}
