// Staff pages: the only script. Shows the chosen file's name in its drop box and, on /verify,
// sends the form as soon as a file is dropped or chosen (one step less at the counter).
// Everything works without it: the forms have their own submit buttons.
"use strict";
document.querySelectorAll(".drop input[type=file]").forEach((input) => {
  const box = input.closest(".drop");
  const picked = box.querySelector(".picked");
  input.addEventListener("change", () => {
    const file = input.files && input.files[0];
    if (picked) picked.textContent = file ? file.name : "";
    if (file && input.form && input.form.dataset.autosubmit === "on") input.form.requestSubmit();
  });
  for (const kind of ["dragenter", "dragover"]) {
    input.addEventListener(kind, () => box.classList.add("over"));
  }
  for (const kind of ["dragleave", "drop"]) {
    input.addEventListener(kind, () => box.classList.remove("over"));
  }
});
