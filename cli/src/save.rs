//! `rbuild save`: images from the store into a docker archive (what `docker load` reads)
//! or, with `--format oci`, an OCI image layout tar — to `-o FILE` or to stdout.
//!
//! The archive is written by `rbuild_solver::save_stored_images` (atomic, deterministic);
//! to stdout it is staged in the store's scratch space first, so a failure never leaves
//! half an archive in a pipe's consumer's hands without an error exit. Ctrl-C or SIGTERM
//! stops the write (nothing is left of it) and exits 130 / 143.

use std::io::{self, IsTerminal, Write};

use anyhow::{bail, Context, Result};
use rbuild_cache::Store;
use rbuild_oci::oci_spec::image::Descriptor;
use rbuild_oci::ImageReference;
use rbuild_solver::{save_stored_images, Export};

use crate::args::{SaveArgs, SaveFormat};
use crate::{image_lookup, interrupt};

pub fn run(store: &Store, args: &SaveArgs) -> Result<()> {
    let mut images: Vec<(Descriptor, Vec<ImageReference>)> = Vec::new();
    for text in &args.images {
        let image = image_lookup::find(store, text)?;
        let platform = image.platform(store, args.platform.as_deref())?;
        let names = match ImageReference::parse(text) {
            Ok(name) if image.names.contains(&name) => vec![name],
            _ => image.names.clone(),
        };
        images.push((platform.manifest, names));
    }
    let cancel = interrupt::cancel_on_signals().context("cannot watch for Ctrl-C")?;
    let export = |dest| match args.format {
        SaveFormat::Docker => Export::Docker { dest },
        SaveFormat::Oci => Export::Oci { dest },
    };
    match &args.output {
        Some(path) => save_stored_images(store, &images, &export(path.clone()), &cancel)
            .with_context(|| format!("cannot save to {}", path.display())),
        None => {
            if io::stdout().is_terminal() {
                bail!("cowardly refusing to write an archive to a terminal: use -o FILE or redirect stdout");
            }
            let scratch = store.scratch_dir("save")?;
            let staged = scratch.path().join("archive.tar");
            save_stored_images(store, &images, &export(staged.clone()), &cancel)
                .context("cannot save the images")?;
            let mut file = std::fs::File::open(&staged)?;
            let mut stdout = io::stdout().lock();
            io::copy(&mut file, &mut stdout).context("cannot write the archive to stdout")?;
            stdout
                .flush()
                .context("cannot write the archive to stdout")?;
            Ok(())
        }
    }
}
