// dealbridge console: the little that needs a script. Every page works without it.
"use strict";

function csrfToken() {
  const field = document.querySelector('input[name="csrf"]');
  return field ? field.value : "";
}

// The mapping editor checks (and previews) as the admin types, half a second after the last key.
function watchMappingEditor() {
  const form = document.getElementById("mapping-form");
  if (!form) return;
  const result = document.getElementById("mapping-result");
  let timer = null;
  let sent = 0;
  const check = async () => {
    const mine = ++sent;
    const body = new URLSearchParams(new FormData(form));
    const answer = await fetch(form.dataset.check, {
      method: "POST",
      body,
      headers: { "X-CSRF-Token": csrfToken(), "X-Fragment": "1" },
      credentials: "same-origin",
    });
    if (mine === sent) result.innerHTML = await answer.text();  // the server escaped it
  };
  const later = () => { clearTimeout(timer); timer = setTimeout(check, 500); };
  document.getElementById("mapping-text").addEventListener("input", later);
  document.getElementById("preview-customer").addEventListener("change", later);
}

// The customer page reads the record from the desk after the page itself is shown.
async function loadDeskPart() {
  const part = document.getElementById("desk");
  if (!part || !part.dataset.src) return;
  const answer = await fetch(part.dataset.src, { credentials: "same-origin" });
  if (answer.ok) part.innerHTML = await answer.text();
}

document.addEventListener("DOMContentLoaded", () => {
  watchMappingEditor();
  loadDeskPart();
});
