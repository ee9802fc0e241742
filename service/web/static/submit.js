// The submit page: choosing an example loads it (the form's Load button does
// the same without JavaScript). A file, not an onchange attribute, because the
// Content-Security-Policy runs no inline script.
"use strict";
(() => {
  const select = document.getElementById("example");
  if (select) select.addEventListener("change", () => select.form.submit());
})();
