// The ceiling: the least a Node.js HTTP server can do per request (node:http, one fixed JSON
// body, keep-alive). Every benchmark figure is also given as a ratio of this server's req/s.
import { createServer } from 'node:http';

const body = Buffer.from(JSON.stringify({ status: 'ok', service: 'ceiling' }));
const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length };

const server = createServer((_request, response) => {
  response.writeHead(200, headers);
  response.end(body);
});
server.keepAliveTimeout = 72_000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('ceiling listening\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
