/**
 * Lua scripts: each write is one script, so it is atomic (no half-written todo, no lost update
 * between replicas) and costs one round trip. Todos are JSON values in one hash per list, so a
 * read of a whole list is one HVALS.
 *
 * Keys: KEYS[1] = list meta hash {createdAt, v (version), seq (creation counter), r (token of the
 *       last write), bytes (sum of the todos' JSON lengths), bv (the version `bytes` is true for)},
 *       KEYS[2] = todos hash {todoId -> JSON}.
 * A list's revision is `<v>.<r>`. The version alone cannot tell two states apart once Redis went
 * back in time (a restored backup, writes lost in a crash, a failover): the same number then names
 * another state. The token is random per write, so a revision names one state only.
 * Lists written before `r` existed have an empty token until their next write.
 *
 * Every write takes a fresh random token from the caller (Lua has no good randomness): it becomes
 * the list's `r` and the `rev` of the todo it creates or changes (that todo's ETag).
 * Error replies are negative integers: -1 no such list, -2 list full, -3 no such todo,
 * -4 over the byte budget, -5 If-Match did not match.
 */

import type { ChangeType } from '@tasktier/contract';

/**
 * How a write script publishes its change event: PUBLISH on one Redis; SPUBLISH on a cluster,
 * where the channel carries the list's {hash tag}, so it is in the slot of the script's keys (a
 * script may publish to a shard channel of its own slot only).
 */
export type PublishCommand = 'PUBLISH' | 'SPUBLISH';

/** A change type as a Lua string literal, checked against the contract's list. */
const change = (type: ChangeType) => `'${type}'`;

// The steps every write shares, prepended to each write script as local functions.
//
// listExists: the list's meta hash is there (a list is created empty and may expire).
//
// listBytes: the list's byte count. Counted again from the todos when it is not known for the
// current version: lists stored before it was kept, and lists written by a backend from before it
// (during a rolling upgrade), whose scripts change the version but not the count.
//
// setExpiry: an empty list expires (ttl seconds, 0 = never); a list with todos must not. Every
// write sets this again rather than only at the change from empty to not (and back): a todo added
// by a backend from before expiry existed (a rolling upgrade) leaves the expiry on.
//
// matches: ifMatch '' = no condition, '*' = any current todo, else ',tag1,tag2,' (strong tags only).
//
// commit: the list's next version, its new token and byte count; answers the new revision.
//
// publish: the change event (the contract's ChangeEvent) on the list's channel.
//
// putTodo: stores a todo (a list with todos never expires), commits and publishes; answers the
// new revision.
const prelude = (publish: PublishCommand) => `
local function listExists()
  return redis.call('EXISTS', KEYS[1]) == 1
end

local function listBytes()
  local stored = redis.call('HMGET', KEYS[1], 'bytes', 'bv', 'v')
  if stored[1] and stored[2] == stored[3] then return tonumber(stored[1]) end
  local total = 0
  for _, json in ipairs(redis.call('HVALS', KEYS[2])) do total = total + #json end
  return total
end

local function setExpiry(ttl)
  if redis.call('EXISTS', KEYS[2]) == 1 or ttl == 0 then
    redis.call('PERSIST', KEYS[1])
  else
    redis.call('EXPIRE', KEYS[1], ttl)
  end
end

local function matches(ifMatch, todo)
  if ifMatch == '' or ifMatch == '*' then return true end
  return todo.rev ~= nil and string.find(ifMatch, ',' .. todo.rev .. ',', 1, true) ~= nil
end

local function commit(token, bytes)
  local v = redis.call('HINCRBY', KEYS[1], 'v', 1)
  redis.call('HSET', KEYS[1], 'r', token, 'bytes', bytes, 'bv', v)
  return v, v .. '.' .. token
end

local function publish(channel, kind, v, revision, todoId)
  redis.call('${publish}', channel, cjson.encode({type = kind, version = v, revision = revision, todoId = todoId}))
end

local function putTodo(todoId, json, bytes, token, channel, kind)
  redis.call('HSET', KEYS[2], todoId, json)
  redis.call('PERSIST', KEYS[1])
  local v, revision = commit(token, bytes)
  publish(channel, kind, v, revision, todoId)
  return revision
end
`;

// ARGV: createdAt, token, empty-list ttl seconds
export const CREATE_LIST = (publish: PublishCommand) => `${prelude(publish)}
if listExists() then return 0 end
redis.call('HSET', KEYS[1], 'createdAt', ARGV[1], 'v', 0, 'seq', 0, 'r', ARGV[2], 'bytes', 0, 'bv', 0)
local ttl = tonumber(ARGV[3])
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
return 1
`;

// ARGV: todoId, title, completed ('1'|'0'), order ('' = none), now, maxTodos, channel, token, maxBytes
export const CREATE_TODO = (publish: PublishCommand) => `${prelude(publish)}
if not listExists() then return {-1} end
local count = redis.call('HLEN', KEYS[2])
if count >= tonumber(ARGV[6]) then return {-2} end
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0') + 1
local todo = {id = ARGV[1], title = ARGV[2], completed = ARGV[3] == '1', createdAt = ARGV[5], updatedAt = ARGV[5], seq = seq, rev = ARGV[8]}
if ARGV[4] ~= '' then todo.order = tonumber(ARGV[4]) end
local json = cjson.encode(todo)
local bytes = listBytes() + #json
if bytes > tonumber(ARGV[9]) then return {-4} end
redis.call('HSET', KEYS[1], 'seq', seq)
return {putTodo(ARGV[1], json, bytes, ARGV[8], ARGV[7], ${change('todo.created')}), json}
`;

// ARGV: todoId, patch JSON (only title/completed/order), now, channel, token, maxBytes, ifMatch
export const UPDATE_TODO = (publish: PublishCommand) => `${prelude(publish)}
if not listExists() then return {-1} end
local current = redis.call('HGET', KEYS[2], ARGV[1])
-- If-Match on a todo that is gone: the condition is false (RFC 9110 13.1.1), 412 rather than 404.
if not current then return {ARGV[7] == '' and -3 or -5} end
local todo = cjson.decode(current)
if not matches(ARGV[7], todo) then return {-5} end
local patch = cjson.decode(ARGV[2])
for k, val in pairs(patch) do todo[k] = val end
todo.updatedAt = ARGV[3]
todo.rev = ARGV[5]
local json = cjson.encode(todo)
local bytes = listBytes() - #current + #json
-- A change that shrinks a todo is always let through, even in a list over a lowered budget.
if #json > #current and bytes > tonumber(ARGV[6]) then return {-4} end
return {putTodo(ARGV[1], json, bytes, ARGV[5], ARGV[4], ${change('todo.updated')}), json}
`;

// ARGV: todoId, channel, token, ifMatch, empty-list ttl seconds
export const DELETE_TODO = (publish: PublishCommand) => `${prelude(publish)}
if not listExists() then return {-1} end
local current = redis.call('HGET', KEYS[2], ARGV[1])
if not current then return {ARGV[4] == '' and -3 or -5} end
if not matches(ARGV[4], cjson.decode(current)) then return {-5} end
local bytes = listBytes() - #current
redis.call('HDEL', KEYS[2], ARGV[1])
local v, revision = commit(ARGV[3], bytes)
setExpiry(tonumber(ARGV[5]))
publish(ARGV[2], ${change('todo.deleted')}, v, revision, ARGV[1])
return {revision}
`;

// ARGV: channel, token, empty-list ttl seconds
export const CLEAR_TODOS = (publish: PublishCommand) => `${prelude(publish)}
if not listExists() then return {-1} end
redis.call('DEL', KEYS[2])
local v, revision = commit(ARGV[2], 0)
setExpiry(tonumber(ARGV[3]))
publish(ARGV[1], ${change('todos.cleared')}, v, revision)
return {revision}
`;

// ARGV: the revision the caller already has cached ('' = none).
// Answers {-1}, {revision} when the cache is current, or {revision, todo JSON...}.
export const READ_TODOS = `
local meta = redis.call('HMGET', KEYS[1], 'v', 'r')
if not meta[1] then return {-1} end
local revision = meta[1] .. '.' .. (meta[2] or '')
if revision == ARGV[1] then return {revision} end
local out = redis.call('HVALS', KEYS[2])
table.insert(out, 1, revision)
return out
`;

// ARGV: todoId
export const READ_TODO = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local json = redis.call('HGET', KEYS[2], ARGV[1])
if not json then return {-3} end
return {0, json}
`;

// Answers {-1} or {createdAt, version, todoCount, revision}
export const READ_LIST = `
local meta = redis.call('HMGET', KEYS[1], 'createdAt', 'v', 'r')
if not meta[1] then return {-1} end
return {meta[1], tonumber(meta[2]), redis.call('HLEN', KEYS[2]), meta[2] .. '.' .. (meta[3] or '')}
`;
