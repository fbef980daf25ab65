// Signs in with a pasted token: lastgood answers with an HttpOnly session cookie, and the page goes back to
// where the person was headed. The token is sent once, in a POST body, and kept nowhere.

/** Only a page of the status page, so a crafted link cannot send someone elsewhere after sign-in. */
function safeNext(next) {
  return typeof next === 'string' && /^\/ui\/[A-Za-z0-9_/?&=.%-]*$/.test(next) && !next.startsWith('//')
    ? next
    : '/ui/targets';
}

const next = safeNext(new URLSearchParams(location.search).get('next'));
const form = document.getElementById('sign-in');
const input = document.getElementById('token');
const error = document.getElementById('error');

// A link followed from Slack or PagerDuty arrives without the SameSite=Strict cookie; this same-site request
// carries it, so a person already signed in goes straight on.
fetch('/ui/api/session', { credentials: 'same-origin' }).then((response) => {
  if (response.ok) location.replace(next);
});

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  error.hidden = true;
  const token = input.value;
  input.value = '';
  const response = await fetch('/ui/api/session', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  if (response.ok) {
    location.replace(next);
    return;
  }
  const body = await response.json().catch(() => ({}));
  error.textContent =
    response.status === 401
      ? 'That token is not valid.'
      : (body.message ?? `Sign-in failed (${response.status})`);
  error.hidden = false;
  input.focus();
});

input.focus();
