import type { ListStore } from '../store/list-store.ts';
import { FILTERS, type Filter } from './filter.ts';

interface FooterProps {
  store: ListStore;
  active: number;
  completed: number;
  filter: Filter;
}

/** How many todos are left, the filters, and "clear completed". */
export function Footer({ store, active, completed, filter }: FooterProps) {
  return (
    <footer class="footer">
      <span class="todo-count" aria-live="polite">
        <strong>{active}</strong> {active === 1 ? 'item' : 'items'} left
      </span>
      <ul class="filters" aria-label="Show">
        {FILTERS.map((f) => (
          <li key={f.filter}>
            <a
              href={f.href}
              class={filter === f.filter ? 'selected' : undefined}
              aria-current={filter === f.filter ? 'page' : undefined}
            >
              {f.label}
            </a>
          </li>
        ))}
      </ul>
      {completed > 0 && (
        <button type="button" class="clear-completed" onClick={() => store.clearCompleted()}>
          Clear completed
        </button>
      )}
    </footer>
  );
}
