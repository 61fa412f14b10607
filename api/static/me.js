// The holder's live presentation code (/me): counts down and, while the page stays open, asks
// for a fresh code shortly before the shown one expires, at most RENEWALS times (a phone left
// on a desk does not mint codes for ever). Without the script the page still shows its code.
"use strict";
(() => {
  const box = document.getElementById("live-code");
  if (!box) return;
  const RENEWALS = 10;
  const EARLY = 5; // seconds before expiry when the next code is fetched
  const body = box.dataset.renew;
  const csrf = box.dataset.csrf;
  let expires = Date.parse(box.dataset.expires);
  let renewed = 0;
  let busy = false;
  const left = document.getElementById("code-left");
  const show = (p) => {
    document.getElementById("code-qr").src = p.qr;
    document.getElementById("code-text").textContent = p.code;
    document.getElementById("code-url").textContent = p.url;
    expires = Date.parse(p.expires_at);
  };
  const renew = async () => {
    busy = true;
    try {
      const answer = await fetch("/v1/presentations", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body,
        credentials: "same-origin",
      });
      if (answer.ok) {
        show(await answer.json());
        renewed += 1;
      } else {
        renewed = RENEWALS;
      }
    } finally {
      busy = false;
    }
  };
  setInterval(() => {
    const seconds = Math.max(0, Math.round((expires - Date.now()) / 1000));
    left.textContent = String(seconds);
    if (seconds <= EARLY && !busy && renewed < RENEWALS) renew();
    if (seconds === 0 && renewed >= RENEWALS) box.classList.add("expired");
  }, 1000);
})();
