"""The sequence definition format v1 (see shared/spec/sequence-format.md), in small modules.

`values` (field validators and the strict model base), `conditions` (branch conditions),
`document` (the whole definition, its step list built from the step-kind registry),
`problems` (pydantic errors as problems an author can act on) and `parse` (reading and
writing documents). Each step type's config model lives in its kind module
(app/core/steps/<type>.py). This package imports nothing on import, so kind modules can
use `values` and `conditions` while the registry is being discovered.
"""
