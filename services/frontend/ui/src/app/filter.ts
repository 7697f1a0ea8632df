import { useEffect, useState } from 'preact/hooks';

/** Which todos show: the address's hash (`#/`, `#/active`, `#/completed`), as in every TodoMVC. */
export type Filter = 'all' | 'active' | 'completed';

export const FILTERS: Array<{ filter: Filter; href: string; label: string }> = [
  { filter: 'all', href: '#/', label: 'All' },
  { filter: 'active', href: '#/active', label: 'Active' },
  { filter: 'completed', href: '#/completed', label: 'Completed' },
];

function filterFromHash(hash: string): Filter {
  if (hash === '#/active') return 'active';
  if (hash === '#/completed') return 'completed';
  return 'all';
}

/** The filter the address shows, following its changes. */
export function useFilter(): Filter {
  const [filter, setFilter] = useState(() => filterFromHash(location.hash));
  useEffect(() => {
    const onHash = () => setFilter(filterFromHash(location.hash));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  return filter;
}
