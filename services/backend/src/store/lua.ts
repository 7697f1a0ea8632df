/**
 * Lua scripts: each write is one script, so it is atomic (no half-written todo, no lost update
 * between replicas) and costs one round trip. Todos are JSON values in one hash per list, so a
 * read of a whole list is one HVALS.
 *
 * Keys: KEYS[1] = list meta hash {createdAt, v (version), seq (creation counter)},
 *       KEYS[2] = todos hash {todoId -> JSON}.
 * Error replies are negative integers: -1 no such list, -2 list full, -3 no such todo.
 */

export const CREATE_LIST = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'createdAt', ARGV[1], 'v', 0, 'seq', 0)
return 1
`;

// ARGV: todoId, title, completed ('1'|'0'), order ('' = none), now, maxTodos, channel
export const CREATE_TODO = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[6]) then return {-2} end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local todo = {id = ARGV[1], title = ARGV[2], completed = ARGV[3] == '1', createdAt = ARGV[5], updatedAt = ARGV[5], seq = seq}
if ARGV[4] ~= '' then todo.order = tonumber(ARGV[4]) end
local json = cjson.encode(todo)
redis.call('HSET', KEYS[2], ARGV[1], json)
local v = redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('PUBLISH', ARGV[7], cjson.encode({type = 'todo.created', version = v, todoId = ARGV[1]}))
return {v, json}
`;

// ARGV: todoId, patch JSON (only title/completed/order), now, channel
export const UPDATE_TODO = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local current = redis.call('HGET', KEYS[2], ARGV[1])
if not current then return {-3} end
local todo = cjson.decode(current)
local patch = cjson.decode(ARGV[2])
for k, val in pairs(patch) do todo[k] = val end
todo.updatedAt = ARGV[3]
local json = cjson.encode(todo)
redis.call('HSET', KEYS[2], ARGV[1], json)
local v = redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('PUBLISH', ARGV[4], cjson.encode({type = 'todo.updated', version = v, todoId = ARGV[1]}))
return {v, json}
`;

// ARGV: todoId, channel
export const DELETE_TODO = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return {-3} end
local v = redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('PUBLISH', ARGV[2], cjson.encode({type = 'todo.deleted', version = v, todoId = ARGV[1]}))
return {v}
`;

// ARGV: channel
export const CLEAR_TODOS = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
redis.call('DEL', KEYS[2])
local v = redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('PUBLISH', ARGV[1], cjson.encode({type = 'todos.cleared', version = v}))
return {v}
`;

// ARGV: the version the caller already has cached ('' = none).
// Answers {-1}, {v} when the cache is current, or {v, todo JSON...}.
export const READ_TODOS = `
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return {-1} end
if v == ARGV[1] then return {tonumber(v)} end
local out = redis.call('HVALS', KEYS[2])
table.insert(out, 1, tonumber(v))
return out
`;

// ARGV: todoId
export const READ_TODO = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local json = redis.call('HGET', KEYS[2], ARGV[1])
if not json then return {-3} end
return {0, json}
`;

// Answers {-1} or {createdAt, version, todoCount}
export const READ_LIST = `
local meta = redis.call('HMGET', KEYS[1], 'createdAt', 'v')
if not meta[1] then return {-1} end
return {meta[1], tonumber(meta[2]), redis.call('HLEN', KEYS[2])}
`;
