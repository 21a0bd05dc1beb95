"""
Parameter services that answer a malformed request with a refusal instead of crashing.

rclpy's set_parameters and set_parameters_atomically services turn each request entry into a
Parameter with `Parameter.Type(value=msg.value.type)`; an unknown type number raises ValueError
inside the executor, and `rclpy.spin` hands it to the node's main, which ends the process. Any
caller on the network could stop the node that way. `guard_parameter_services(node)` replaces
those two callbacks with ones that refuse such an entry with the reason and handle the others
as rclpy does.
"""
from __future__ import annotations

from rcl_interfaces.msg import SetParametersResult
from rcl_interfaces.srv import SetParameters, SetParametersAtomically
from rclpy.exceptions import ParameterException
from rclpy.parameter import Parameter

VALID_TYPES = ', '.join(f'{t.value} ({t.name})' for t in Parameter.Type)


def parameter_from_message(message) -> Parameter:
    """
    Return the Parameter a rcl_interfaces/Parameter message holds.

    ValueError naming what is wrong.
    """
    try:
        return Parameter.from_parameter_msg(message)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"parameter '{message.name}' has an invalid type {message.value.type}; valid types: "
            f'{VALID_TYPES}') from error


def _refused(reason: str) -> SetParametersResult:
    return SetParametersResult(successful=False, reason=reason)


def _set_each(node, request, response):
    for message in request.parameters:
        try:
            response.results.append(
                node.set_parameters_atomically([parameter_from_message(message)]))
        except (ValueError, TypeError, ParameterException) as error:
            response.results.append(_refused(str(error)))
    return response


def _set_atomically(node, request, response):
    try:
        parameters = [parameter_from_message(message) for message in request.parameters]
        response.result = node.set_parameters_atomically(parameters)
    except (ValueError, TypeError, ParameterException) as error:
        response.result = _refused(str(error))
    return response


def guard_parameter_services(node) -> int:
    """Make the node's parameter-setting services refuse malformed requests; how many changed."""
    handlers = {SetParameters: _set_each, SetParametersAtomically: _set_atomically}
    guarded = 0
    for service in node.services:
        handler = handlers.get(service.srv_type)
        if handler is not None and service.srv_name.endswith(
                ('/set_parameters', '/set_parameters_atomically')):
            service.callback = (lambda request, response, _handler=handler:
                                _handler(node, request, response))
            guarded += 1
    return guarded
