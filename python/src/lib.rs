//! `vnet._vnet`: the Rust side of the Python package. Thin: each function
//! calls `vnet::Lab`/`vnet::RunningLab` and hands back plain values (dicts
//! as `vnet … --json` prints them); the Pythonic layer is `vnet/__init__.py`.

use std::sync::{Arc, Mutex};

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyDict;

create_exception!(
    _vnet,
    VnetError,
    PyException,
    "A vnet failure; its text is what the command line prints."
);

fn err(e: vnet::Error) -> PyErr {
    VnetError::new_err(e.to_string())
}

/// serde_json value → Python object (through the json module: exact, and
/// the same types `json.loads` gives).
fn to_py(py: Python<'_>, v: &impl serde::Serialize) -> PyResult<Py<PyAny>> {
    let text = serde_json::to_string(v).map_err(|e| VnetError::new_err(e.to_string()))?;
    let json = py.import("json")?;
    Ok(json.call_method1("loads", (text,))?.unbind())
}

/// A lab file, validated.
#[pyclass(module = "vnet._vnet", name = "Lab", frozen)]
struct PyLab {
    lab: vnet::Lab,
}

#[pymethods]
impl PyLab {
    #[staticmethod]
    fn from_yaml(text: &str) -> PyResult<PyLab> {
        vnet::Lab::from_yaml(text)
            .map(|lab| PyLab { lab })
            .map_err(err)
    }

    #[staticmethod]
    fn from_file(path: std::path::PathBuf) -> PyResult<PyLab> {
        vnet::Lab::from_file(path)
            .map(|lab| PyLab { lab })
            .map_err(err)
    }

    #[getter]
    fn name(&self) -> String {
        self.lab.name().to_string()
    }

    fn nodes(&self) -> Vec<String> {
        self.lab.nodes().into_iter().map(str::to_string).collect()
    }

    #[pyo3(signature = (exact_names = false))]
    fn up(&self, py: Python<'_>, exact_names: bool) -> PyResult<PyRunning> {
        let lab = if exact_names {
            self.lab.clone().exact_names()
        } else {
            self.lab.clone()
        };
        let running = py.detach(|| lab.up()).map_err(err)?;
        Ok(PyRunning {
            lab: Mutex::new(Some(Arc::new(running))),
        })
    }
}

/// A lab that is up; `down()` (or garbage collection) tears it down.
#[pyclass(module = "vnet._vnet", name = "RunningLab", frozen)]
struct PyRunning {
    lab: Mutex<Option<Arc<vnet::RunningLab>>>,
}

impl PyRunning {
    fn get(&self) -> PyResult<Arc<vnet::RunningLab>> {
        self.lab
            .lock()
            .ok()
            .and_then(|l| l.clone())
            .ok_or_else(|| VnetError::new_err("the lab is down"))
    }
}

#[pymethods]
impl PyRunning {
    #[getter]
    fn name(&self) -> PyResult<String> {
        Ok(self.get()?.name().to_string())
    }

    fn nodes(&self) -> PyResult<Vec<String>> {
        Ok(self
            .get()?
            .nodes()
            .into_iter()
            .map(str::to_string)
            .collect())
    }

    fn netns(&self, node: &str) -> PyResult<String> {
        let lab = self.get()?;
        lab.node(node).netns().map(str::to_string).map_err(err)
    }

    fn host_interface(&self, name: &str) -> PyResult<Option<String>> {
        Ok(self.get()?.host_interface(name).map(str::to_string))
    }

    /// `f()` on a thread inside `node` (its network namespace and a mount
    /// namespace of its own); what it returns. Exceptions go on.
    fn call_in(&self, py: Python<'_>, node: &str, f: Py<PyAny>) -> PyResult<Py<PyAny>> {
        let lab = self.get()?;
        let r = py.detach(|| {
            lab.node(node)
                .enter(move || Python::attach(|py| f.call0(py)))
        });
        r.map_err(err)?
    }

    #[pyo3(signature = (timeout = 1.0, count = 1))]
    fn ping_all(&self, py: Python<'_>, timeout: f64, count: u32) -> PyResult<Py<PyAny>> {
        let lab = self.get()?;
        if !(timeout > 0.0 && timeout <= 3600.0) {
            return Err(VnetError::new_err("timeout: between 0 and 3600 seconds"));
        }
        let t = std::time::Duration::from_secs_f64(timeout);
        let m = py.detach(|| lab.ping_all_with(t, count)).map_err(err)?;
        let d = to_py(py, &m)?;
        let d = d.bind(py).cast::<PyDict>()?.clone();
        d.set_item("all_reachable", m.all_reachable())?;
        Ok(d.into_any().unbind())
    }

    fn trace(&self, py: Python<'_>, src: &str, dst: &str) -> PyResult<Py<PyAny>> {
        let lab = self.get()?;
        let t = py.detach(|| lab.trace(src, dst)).map_err(err)?;
        to_py(py, &t)
    }

    fn doctor(&self, py: Python<'_>, src: &str, dst: &str) -> PyResult<Py<PyAny>> {
        let lab = self.get()?;
        let d = py.detach(|| lab.doctor(src, dst)).map_err(err)?;
        to_py(py, &d.json())
    }

    fn render_doctor(&self, py: Python<'_>, src: &str, dst: &str) -> PyResult<String> {
        let lab = self.get()?;
        let d = py.detach(|| lab.doctor(src, dst)).map_err(err)?;
        Ok(d.to_string())
    }

    fn impair(
        &self,
        py: Python<'_>,
        node: &str,
        iface: &str,
        set: Vec<(String, String)>,
        clear: bool,
    ) -> PyResult<Py<PyAny>> {
        let lab = self.get()?;
        let r = py
            .detach(|| {
                let pairs: Vec<(&str, &str)> =
                    set.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                if clear {
                    let cleared = lab.clear_impairment(node, iface)?;
                    if pairs.is_empty() {
                        return Ok(cleared);
                    }
                }
                lab.impair(node, iface, &pairs)
            })
            .map_err(err)?;
        to_py(py, &r)
    }

    /// Tear the lab down; a second call does nothing.
    fn down(&self, py: Python<'_>) -> PyResult<()> {
        let taken = self.lab.lock().ok().and_then(|mut l| l.take());
        let Some(lab) = taken else { return Ok(()) };
        match Arc::try_unwrap(lab) {
            Ok(lab) => py.detach(|| lab.down()).map_err(err),
            Err(lab) => {
                // A call_in still runs on another thread: it tears the lab
                // down when it lets go.
                drop(lab);
                Ok(())
            }
        }
    }
}

#[pymodule]
fn _vnet(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyLab>()?;
    m.add_class::<PyRunning>()?;
    m.add("VnetError", m.py().get_type::<VnetError>())?;
    Ok(())
}
