import { useState } from 'preact/hooks';

/** The list's link, to share, with a button that copies it; before the list exists, how it gets one. */
export function Share({ listId }: { listId: string | undefined }) {
  if (listId === undefined) return <p class="share">Add a todo and this list gets a link to share.</p>;
  return <ShareLink listId={listId} />;
}

function ShareLink({ listId }: { listId: string }) {
  const url = `${location.origin}/l/${listId}`;
  const [copied, setCopied] = useState<string | undefined>();
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(url);
      setCopied('Link copied');
    } catch {
      setCopied('Copy the link above');
    }
    setTimeout(() => setCopied(undefined), 3000);
  };
  return (
    <p class="share">
      Share this list:{' '}
      <a href={url} class="share-link">
        {url}
      </a>{' '}
      <button type="button" class="share-copy" onClick={copy}>
        Copy link
      </button>
      <span class="share-status" aria-live="polite">
        {copied}
      </span>
    </p>
  );
}
