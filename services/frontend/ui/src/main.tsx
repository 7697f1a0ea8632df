import 'todomvc-app-css/index.css';
import './app.css';
import { LIST_ID_PATTERN } from '@tasktier/contract/constants';
import { render } from 'preact';
import { App } from './app/app.tsx';
import { NotFound } from './app/not-found.tsx';
import { NewList } from './new-list.ts';
import { ListStore } from './store/list-store.ts';

const root = document.getElementById('app')!;
const LIST_PATH = /^\/l\/([^/]+)\/?$/;

function show(store: ListStore): void {
  render(<App store={store} />, root);
  store.start();
}

const match = LIST_PATH.exec(location.pathname);
if (match && new RegExp(LIST_ID_PATTERN).test(match[1] ?? '')) {
  show(new ListStore(match[1]!));
} else if (match) {
  // A malformed id cannot name a list.
  render(<NotFound />, root);
} else {
  // A new, empty list: it exists once its first todo is added, and the address becomes its link.
  show(new ListStore(new NewList((listId) => history.replaceState(null, '', `/l/${listId}${location.hash}`))));
}
