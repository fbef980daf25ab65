/**
 * The reference for "this machine": Fastify with nothing but what any JSON webhook needs (parse the body, answer
 * 202), run as its own process like lastgood. lastgood's intake throughput is reported as a ratio to this.
 */
import Fastify from 'fastify';

const server = Fastify();
server.get('/readyz', async () => ({ status: 'ready' }));
server.post('/webhook/error-budget-alert', async (_request, reply) => {
  reply.code(202);
  return { accepted: true };
});
await server.listen({ port: Number(process.env.PORT), host: process.env.HOST ?? '127.0.0.1' });
process.on('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
