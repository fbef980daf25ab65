// Renders lastgood's OpenAPI document (GET /openapi.json, viewer token) as plain HTML. Served from /docs under a
// CSP that allows scripts, styles and fetches from this origin only, so it builds the page with DOM calls and
// textContent: nothing in the document can become markup or script.

/** An element with text or children. */
function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

function schemaBlock(schema) {
  return el('pre', {}, JSON.stringify(schema, null, 2));
}

function parametersTable(parameters) {
  const rows = parameters.map((parameter) =>
    el(
      'tr',
      {},
      el('td', {}, el('code', {}, parameter.name)),
      el('td', {}, parameter.in),
      el('td', {}, parameter.required ? 'required' : 'optional'),
      el('td', {}, el('code', {}, JSON.stringify(parameter.schema))),
    ),
  );
  return el(
    'table',
    {},
    el('tr', {}, el('th', {}, 'name'), el('th', {}, 'in'), el('th', {}, ''), el('th', {}, 'schema')),
    ...rows,
  );
}

function operationSection(path, method, operation) {
  const section = el('section', { class: 'operation', id: operation.operationId });
  const role = operation['x-required-role']
    ? `${operation['x-required-role']} token`
    : operation.security?.length
      ? 'token'
      : 'no token';
  section.append(
    el(
      'h3',
      {},
      el('span', { class: `method method-${method}` }, method.toUpperCase()),
      el('code', {}, path),
    ),
    el('p', {}, operation.summary ?? '', ' ', el('span', { class: 'role' }, `(${role})`)),
  );
  if (operation.description) section.append(el('p', {}, operation.description));
  if (operation.parameters?.length)
    section.append(el('h4', {}, 'Parameters'), parametersTable(operation.parameters));
  const body = operation.requestBody?.content?.['application/json']?.schema;
  if (body) section.append(el('h4', {}, 'Body'), schemaBlock(body));
  section.append(el('h4', {}, 'Responses'));
  for (const [status, response] of Object.entries(operation.responses ?? {})) {
    const [contentType, content] = Object.entries(response.content ?? {})[0] ?? [];
    const details = el(
      'details',
      {},
      el('summary', {}, el('code', {}, status), ' ', response.description ?? ''),
    );
    if (content?.schema) details.append(el('p', {}, contentType), schemaBlock(content.schema));
    section.append(details);
  }
  return section;
}

function render(document_) {
  const api = document.getElementById('api');
  api.replaceChildren(
    el('p', {}, `${document_.info.title} ${document_.info.version}: ${document_.info.description}`),
  );
  const byTag = new Map();
  for (const [path, methods] of Object.entries(document_.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const tag = operation.tags?.[0] ?? 'other';
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operationSection(path, method, operation));
    }
  }
  for (const [tag, sections] of byTag) api.append(el('h2', {}, tag), ...sections);
  api.append(el('h2', { id: 'schemas' }, 'Schemas'));
  for (const [name, schema] of Object.entries(document_.components?.schemas ?? {})) {
    api.append(el('h3', { id: `schema-${name}` }, name), schemaBlock(schema));
  }
}

document.getElementById('token-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const status = document.getElementById('status');
  status.textContent = 'loading…';
  const token = document.getElementById('token').value.trim();
  const response = await fetch('/openapi.json', { headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) {
    const answer = await response.json().catch(() => ({}));
    status.textContent = `${response.status} ${answer.code ?? ''}: ${answer.message ?? response.statusText}`;
    return;
  }
  render(await response.json());
  status.textContent = '';
});
