// tresor's dashboard script: row menus (right-click, the context-menu key, Shift+F10 or the ⋯
// button), filtering as you type, confirmations, copying references, selectors that reload.
// No framework and no inline script (the Content-Security-Policy allows only this file). It never
// sees a secret value: the server sends none.
"use strict";

function closeMenus(except) {
  document.querySelectorAll(".menu:not([hidden])").forEach((menu) => {
    if (menu === except) return;
    menu.hidden = true;
    menu.classList.remove("at-pointer");
    const button = menu.parentElement.querySelector(".menu-button");
    if (button) button.setAttribute("aria-expanded", "false");
  });
}

function openMenu(row, x, y) {
  const menu = row.querySelector(".menu");
  if (!menu) return;
  closeMenus(menu);
  menu.hidden = false;
  if (x !== undefined) {
    menu.classList.add("at-pointer");
    menu.style.left = Math.min(x, window.innerWidth - 190) + "px";
    menu.style.top = Math.min(y, window.innerHeight - 200) + "px";
  } else {
    menu.classList.remove("at-pointer");
    menu.style.left = "";
    menu.style.top = "";
  }
  const button = row.querySelector(".menu-button");
  if (button) button.setAttribute("aria-expanded", "true");
  const first = menu.querySelector('[role="menuitem"]');
  if (first) first.focus();
}

document.addEventListener("contextmenu", (event) => {
  const row = event.target.closest("tr.entry");
  if (!row) return;
  event.preventDefault();
  openMenu(row, event.clientX, event.clientY);
});

document.addEventListener("click", (event) => {
  const button = event.target.closest(".menu-button");
  if (button) {
    const row = button.closest("tr.entry");
    const menu = row.querySelector(".menu");
    if (menu.hidden) openMenu(row); else closeMenus();
    return;
  }
  const copy = event.target.closest("[data-copy]");
  if (copy) {
    const text = copy.getAttribute("data-copy");
    if (navigator.clipboard) navigator.clipboard.writeText(text).catch(() => {});
    copy.textContent = "Copied " + text;
    return;
  }
  if (!event.target.closest(".menu")) closeMenus();
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    const open = document.querySelector(".menu:not([hidden])");
    if (open) {
      const row = open.closest("tr.entry");
      closeMenus();
      if (row) row.focus();
    }
    return;
  }
  const row = event.target.closest && event.target.closest("tr.entry");
  if (row && event.target === row && (event.key === "ContextMenu" || (event.shiftKey && event.key === "F10"))) {
    event.preventDefault();
    openMenu(row);
    return;
  }
  if (row && event.target === row && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
    event.preventDefault();
    let next = event.key === "ArrowDown" ? row.nextElementSibling : row.previousElementSibling;
    while (next && (next.hidden || !next.classList.contains("entry"))) {
      next = event.key === "ArrowDown" ? next.nextElementSibling : next.previousElementSibling;
    }
    if (next) next.focus();
    return;
  }
  const menu = event.target.closest && event.target.closest(".menu");
  if (menu && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
    event.preventDefault();
    const items = Array.from(menu.querySelectorAll('[role="menuitem"]'));
    const at = items.indexOf(document.activeElement);
    const next = items[(at + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length];
    if (next) next.focus();
  }
});

document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  const key = form.getAttribute("data-confirm-key");
  if (key !== null) {
    const typed = window.prompt("Purging removes " + key + " and all its versions for good. Type the key to confirm:");
    if (typed === null) {
      event.preventDefault();
      return;
    }
    form.querySelector('input[name="confirm"]').value = typed;
  }
});

// A loading state: once a form is on its way (its submit not cancelled above), the page says so
// until the next page arrives.
document.addEventListener("submit", (event) => {
  if (event.defaultPrevented) return;
  document.body.setAttribute("aria-busy", "true");
});
window.addEventListener("pageshow", () => document.body.removeAttribute("aria-busy"));

document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-autosubmit]")) event.target.form.submit();
});

document.addEventListener("input", (event) => {
  if (event.target.id !== "filter") return;
  const needle = event.target.value.trim().toLowerCase();
  document.querySelectorAll("tr.entry, tr.folder").forEach((row) => {
    const key = (row.getAttribute("data-key") || row.textContent).toLowerCase();
    row.hidden = needle !== "" && !key.includes(needle);
  });
});
