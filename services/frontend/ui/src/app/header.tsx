import { TITLE_MAX_LENGTH } from '@tasktier/contract/constants';
import type { JSX, RefObject } from 'preact';
import { useLayoutEffect } from 'preact/hooks';
import type { ListStore } from '../store/list-store.ts';
import { cleanTitle } from '../title.ts';

/**
 * What the input holds, then the todos given back to it (not saved), as one text: the input holds
 * one line and none of it may be lost. Appended, in the order they were typed: what it holds is
 * either a todo given back earlier (typed before these) or being typed (which must not move under
 * the caret). Separated by "; ", which reads as a list to edit apart, or to send as one todo.
 */
function givenBack(holds: string, titles: readonly string[]): string {
  return [holds.trim(), ...titles].filter(Boolean).join('; ');
}

interface HeaderProps {
  store: ListStore;
  /** The titles of todos not saved (the store's state.returned). */
  returned: readonly string[];
  /** The new-todo input, which the app focuses. */
  inputRef: RefObject<HTMLInputElement>;
}

/** The title and the new-todo input. */
export function Header({ store, returned, inputRef }: HeaderProps) {
  // A todo that was not saved (refused, or its list could not be created) goes back where it was
  // typed, after what the input holds, so pressing Enter tries again and nothing is lost.
  useLayoutEffect(() => {
    const input = inputRef.current;
    if (returned.length === 0 || !input) return;
    input.value = givenBack(input.value, store.takeReturned());
  }, [returned]);

  const onNewTodoKey = (event: JSX.TargetedKeyboardEvent<HTMLInputElement>) => {
    if (event.key !== 'Enter' || event.isComposing) return;
    const input = event.currentTarget;
    const title = cleanTitle(input.value);
    if (!title) return;
    store.add(title);
    input.value = '';
  };

  return (
    <header class="header">
      <h1>todos</h1>
      <input
        ref={inputRef}
        class="new-todo"
        placeholder="What needs to be done?"
        aria-label="New todo: type it, then press Enter"
        maxLength={TITLE_MAX_LENGTH}
        onKeyDown={onNewTodoKey}
      />
    </header>
  );
}
