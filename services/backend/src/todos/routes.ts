import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ListIdParams, NewTodo, Problem, Todo, TodoArray, TodoParams, TodoPatch } from '@tasktier/contract';
import { annotateRequestSpan, sendProblem } from '@tasktier/service-kit';
import { Type } from 'typebox';
import { newTodoId } from '../lib/ids.ts';
import { publicBase, type RouteOptions } from '../lib/urls.ts';
import { ifMatchCondition, noneMatchHits } from './etags.ts';
import { ListReader } from './read.ts';
import type { StoredTodo } from './store.ts';
import { todoView } from './view.ts';

const JSON_TYPE = 'application/json; charset=utf-8';
const BLANK = /^\s*$/;
const NoBody = Type.Null({ description: 'No body' });
const errors = { 400: Problem, 404: Problem, 409: Problem, 413: Problem, 415: Problem, 503: Problem, 507: Problem };
const IfMatchHeaders = Type.Object({
  'if-match': Type.Optional(
    Type.String({
      description:
        "The todo's ETag (or a list of them, or *): the change is made only if the todo is still as that ETag " +
        'names it, otherwise 412. Without If-Match the last write wins.',
    }),
  ),
});

/**
 * The span attribute that joins a write to the refreshes it causes (with tracing on): a write's
 * span carries the list revision it made, the change event carries the same `revision`, and the
 * reader's refresh (GET todos) carries the revision it served. Search traces by it.
 */
const REVISION = 'tasktier.list.revision';

/** The Todo-Backend contract, scoped to one list. */
const todos: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { trustedProxy }) => {
  const reader = new ListReader(app.store);
  const listUrl = (request: Parameters<typeof publicBase>[0], listId: string) =>
    `${publicBase(request, trustedProxy)}/api/lists/${listId}`;

  app.get(
    '/api/lists/:listId/todos',
    {
      schema: {
        tags: ['todos'],
        summary: "The list's todos, by order then creation",
        params: ListIdParams,
        response: { 200: TodoArray, ...errors },
      },
    },
    async (request, reply) => {
      const { listId } = request.params;
      const { revision, body } = await reader.read(listId, listUrl(request, listId));
      annotateRequestSpan(request, { [REVISION]: revision });
      const etag = `"${revision}"`;
      reply.header('etag', etag).header('cache-control', 'no-cache');
      if (noneMatchHits(request.headers['if-none-match'], revision)) {
        // No body and no Content-Length on a 304 (undici rejects one with a length).
        return reply.code(304).send(undefined as unknown as Todo[]);
      }
      // The body is already JSON bytes; Fastify sends a Buffer as is. The cast tells the type
      // provider so, since it expects the unserialized array.
      return reply.type(JSON_TYPE).send(body as unknown as Todo[]);
    },
  );

  app.post(
    '/api/lists/:listId/todos',
    {
      schema: {
        tags: ['todos'],
        summary: 'Add a todo',
        params: ListIdParams,
        body: NewTodo,
        response: { 201: Todo, ...errors },
      },
    },
    async (request, reply) => {
      const { listId } = request.params;
      if (BLANK.test(request.body.title)) return blankTitle(reply);
      const { todo, revision } = await app.store.createTodo(
        listId,
        newTodoId(),
        request.body,
        new Date().toISOString(),
      );
      annotateRequestSpan(request, { [REVISION]: revision });
      const view = todoView(todo, listUrl(request, listId));
      reply.code(201).header('location', view.url);
      setTodoEtag(reply, todo);
      return view;
    },
  );

  app.delete(
    '/api/lists/:listId/todos',
    {
      schema: {
        tags: ['todos'],
        summary: 'Delete every todo of the list',
        params: ListIdParams,
        response: { 204: NoBody, ...errors },
      },
    },
    async (request, reply) => {
      annotateRequestSpan(request, { [REVISION]: await app.store.clearTodos(request.params.listId) });
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api/lists/:listId/todos/:todoId',
    {
      schema: {
        tags: ['todos'],
        summary: 'Read a todo',
        description: 'The ETag names this state of the todo; send it in If-Match to change or delete it safely.',
        params: TodoParams,
        response: { 200: Todo, ...errors },
      },
    },
    async (request, reply) => {
      const { listId, todoId } = request.params;
      const todo = await app.store.readTodo(listId, todoId);
      setTodoEtag(reply, todo);
      return todoView(todo, listUrl(request, listId));
    },
  );

  app.patch(
    '/api/lists/:listId/todos/:todoId',
    {
      schema: {
        tags: ['todos'],
        summary: 'Change some fields of a todo (If-Match: only if unchanged; without it the last write wins)',
        params: TodoParams,
        headers: IfMatchHeaders,
        body: TodoPatch,
        response: { 200: Todo, ...errors, 412: Problem },
      },
    },
    async (request, reply) => {
      const { listId, todoId } = request.params;
      if (request.body.title !== undefined && BLANK.test(request.body.title)) return blankTitle(reply);
      const { todo, revision } = await app.store.updateTodo(
        listId,
        todoId,
        request.body,
        new Date().toISOString(),
        ifMatchCondition(request.headers['if-match']),
      );
      annotateRequestSpan(request, { [REVISION]: revision });
      setTodoEtag(reply, todo);
      return todoView(todo, listUrl(request, listId));
    },
  );

  app.delete(
    '/api/lists/:listId/todos/:todoId',
    {
      schema: {
        tags: ['todos'],
        summary: 'Delete a todo (If-Match: only if unchanged; without it the last write wins)',
        params: TodoParams,
        headers: IfMatchHeaders,
        response: { 204: NoBody, ...errors, 412: Problem },
      },
    },
    async (request, reply) => {
      const { listId, todoId } = request.params;
      const revision = await app.store.deleteTodo(listId, todoId, ifMatchCondition(request.headers['if-match']));
      annotateRequestSpan(request, { [REVISION]: revision });
      return reply.code(204).send(null);
    },
  );
};

/** A todo's ETag is its `rev`; todos stored before revs existed have none until their next change. */
function setTodoEtag(reply: { header(name: string, value: string): unknown }, todo: StoredTodo): void {
  if (todo.rev) reply.header('etag', `"${todo.rev}"`);
}

function blankTitle(reply: Parameters<typeof sendProblem>[0]) {
  return sendProblem(reply, 400, 'body/title must contain something other than spaces', 'validation');
}

export default todos;
