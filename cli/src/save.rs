//! `rbuild save`: images from the store into a docker archive (what `docker load` reads)
//! or, with `--format oci`, an OCI image layout tar — to `-o FILE` or to stdout.
//!
//! The archive is written by `rbuild_solver::save_stored_images` (atomic, deterministic);
//! to stdout it goes through `StdoutArchive` (staged whole first). Ctrl-C or SIGTERM stops
//! the write (nothing is left of it) and exits 130 / 143.

use anyhow::{Context, Result};
use rbuild_cache::Store;
use rbuild_oci::oci_spec::image::Descriptor;
use rbuild_oci::ImageReference;
use rbuild_solver::{save_stored_images, Export};

use crate::args::{SaveArgs, SaveFormat};
use crate::stdout_archive::StdoutArchive;
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
            let staged = StdoutArchive::stage(store, "use -o FILE")?;
            save_stored_images(store, &images, &export(staged.path()), &cancel)
                .context("cannot save the images")?;
            staged.send()
        }
    }
}
