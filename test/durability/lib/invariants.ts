/**
 * "No todo is ever half-written": checks every list in Redis directly (not through the API, which
 * could hide a broken record). A list is a meta hash `tt:list:{id}` {createdAt, v, seq, r, bytes, bv} and a todos
 * hash `tt:todos:{id}` {todoId -> JSON}; every write is one Lua script, so both change together.
 */
export type Cli = (...args: string[]) => string;

export interface InvariantReport {
  lists: number;
  todos: number;
  problems: string[];
}

const TODO_FIELDS = ['id', 'title', 'completed', 'createdAt', 'updatedAt', 'seq'] as const;

function lines(text: string): string[] {
  return text === '' ? [] : text.split('\n');
}

export function checkInvariants(cli: Cli, prefix = 'tt:'): InvariantReport {
  const problems: string[] = [];
  const keys = lines(cli('--scan', '--pattern', `${prefix}*`));
  const listIds = new Set<string>();
  const todoIds = new Set<string>();
  for (const key of keys) {
    const match = /^(?:.*?):(list|todos):\{(.+)\}$/.exec(key);
    if (!match) {
      problems.push(`unexpected key ${key}`);
      continue;
    }
    (match[1] === 'list' ? listIds : todoIds).add(match[2]!);
  }
  for (const id of todoIds) {
    if (!listIds.has(id)) problems.push(`todos of list ${id} exist without the list`);
  }
  let todoCount = 0;
  for (const id of listIds) {
    const meta = lines(cli('HGETALL', `${prefix}list:{${id}}`));
    const fields = new Map<string, string>();
    for (let i = 0; i + 1 < meta.length; i += 2) fields.set(meta[i]!, meta[i + 1]!);
    const seq = Number(fields.get('seq'));
    const version = Number(fields.get('v'));
    if (!fields.get('createdAt') || !Number.isInteger(seq) || !Number.isInteger(version)) {
      problems.push(`list ${id} has a broken meta record: ${JSON.stringify(Object.fromEntries(fields))}`);
      continue;
    }
    const seen = new Set<number>();
    let bytes = 0;
    for (const json of lines(cli('HVALS', `${prefix}todos:{${id}}`))) {
      todoCount++;
      bytes += Buffer.byteLength(json);
      let todo: Record<string, unknown>;
      try {
        todo = JSON.parse(json) as Record<string, unknown>;
      } catch {
        problems.push(`list ${id} holds a todo that is not JSON: ${json.slice(0, 80)}`);
        continue;
      }
      const missing = TODO_FIELDS.filter((field) => todo[field] === undefined);
      if (missing.length > 0) problems.push(`todo ${String(todo.id)} of list ${id} lacks ${missing.join(', ')}`);
      const todoSeq = Number(todo.seq);
      if (!(todoSeq >= 1 && todoSeq <= seq))
        problems.push(`todo ${String(todo.id)} has seq ${todoSeq} > list seq ${seq}`);
      if (seen.has(todoSeq)) problems.push(`two todos of list ${id} share seq ${todoSeq}`);
      seen.add(todoSeq);
    }
    // `bytes` (the list's size budget) is true for version `bv`; lists stored or written before it
    // existed are counted again by their next write.
    const keptBytes = fields.get('bytes');
    if (keptBytes !== undefined && fields.get('bv') === fields.get('v') && Number(keptBytes) !== bytes) {
      problems.push(`list ${id} counts ${keptBytes} bytes but holds ${bytes}`);
    }
    if (seen.size > seq) problems.push(`list ${id} holds ${seen.size} todos but created only ${seq}`);
    if (version < seen.size) problems.push(`list ${id} is at version ${version} with ${seen.size} todos`);
  }
  return { lists: listIds.size, todos: todoCount, problems };
}
