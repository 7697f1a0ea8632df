/** A list that does not exist (a 404, or an address that cannot name one). */
export function NotFound() {
  return (
    <section class="todoapp not-found">
      <header class="header">
        <h1>todos</h1>
      </header>
      <div class="message" role="alert">
        <p>This list does not exist. The link may be mistyped or incomplete.</p>
        <p>
          <a href="/">Start a new list</a>
        </p>
      </div>
    </section>
  );
}
