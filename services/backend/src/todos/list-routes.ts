import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { CreatedList, ListIdParams, Problem, TodoList } from '@tasktier/contract';
import { newListId } from '../lib/ids.ts';
import { publicBase, type RouteOptions } from '../lib/urls.ts';

const lists: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { trustedProxy }) => {
  app.post(
    '/api/lists',
    {
      schema: {
        tags: ['lists'],
        summary: 'Create a list; its id is the unguessable key to share it',
        response: { 201: CreatedList, 503: Problem },
      },
    },
    async (request, reply) => {
      const createdAt = new Date().toISOString();
      let id = newListId();
      // 128 random bits never collide in practice; the script refuses to overwrite if they do.
      while (!(await app.store.createList(id, createdAt))) id = newListId();
      const url = `${publicBase(request, trustedProxy)}/api/lists/${id}`;
      reply.code(201).header('location', url);
      return { id, url, todosUrl: `${url}/todos`, createdAt };
    },
  );

  app.get(
    '/api/lists/:listId',
    {
      schema: {
        tags: ['lists'],
        summary: 'Read a list',
        params: ListIdParams,
        response: { 200: TodoList, 404: Problem },
      },
    },
    async (request) => {
      const list = await app.store.readList(request.params.listId);
      const url = `${publicBase(request, trustedProxy)}/api/lists/${list.id}`;
      return { id: list.id, url, todosUrl: `${url}/todos`, createdAt: list.createdAt, todoCount: list.todoCount };
    },
  );
};

export default lists;
