"""libnvidia-ml straight through ctypes for the bench scripts beside this file, so their
figures are the driver's, with no wrapper in between. Importing it opens GPU 0 as `dev`."""
import ctypes

nvml = ctypes.CDLL("libnvidia-ml.so.1")
assert nvml.nvmlInit_v2() == 0
dev = ctypes.c_void_p()
assert nvml.nvmlDeviceGetHandleByIndex_v2(0, ctypes.byref(dev)) == 0


class FieldValue(ctypes.Structure):
    """nvmlFieldValue_t."""
    _fields_ = [("fieldId", ctypes.c_uint), ("scopeId", ctypes.c_uint),
                ("timestamp", ctypes.c_longlong), ("latencyUsec", ctypes.c_longlong),
                ("valueType", ctypes.c_int), ("nvmlReturn", ctypes.c_int),
                ("value", ctypes.c_ulonglong)]


def field_values(ids):
    """An array asking for the fields `ids`, for nvmlDeviceGetFieldValues(dev, len(ids), it)."""
    arr = (FieldValue * len(ids))()
    for i, f in enumerate(ids):
        arr[i].fieldId = f
    return arr
