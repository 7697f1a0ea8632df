import 'todomvc-app-css/index.css';
import './app.css';
import { render } from 'preact';
import { createList } from './api.ts';
import { App, Creating, NotFound } from './app.tsx';
import { LIST_ID_PATTERN } from './limits.ts';
import { ListStore, retryDelay } from './store.ts';

const root = document.getElementById('app')!;
const LIST_PATH = /^\/l\/([^/]+)\/?$/;

function show(listId: string): void {
  const store = new ListStore(listId);
  render(<App store={store} />, root);
  store.start();
}

/** The first visit creates a list, then the address becomes its shareable link. */
async function createAndShow(): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      const list = await createList();
      history.replaceState(null, '', `/l/${list.id}${location.hash}`);
      show(list.id);
      return;
    } catch {
      render(<Creating failed />, root);
      await new Promise((resolve) => setTimeout(resolve, retryDelay(attempt)));
    }
  }
}

const match = LIST_PATH.exec(location.pathname);
if (match && new RegExp(LIST_ID_PATTERN).test(match[1] ?? '')) {
  show(match[1]!);
} else if (match) {
  // A malformed id cannot name a list.
  render(<NotFound />, root);
} else {
  render(<Creating failed={false} />, root);
  void createAndShow();
}
