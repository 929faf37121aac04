"""Root stack: the five children as nested stacks, each child's outputs wired into its siblings' parameters.

The wiring is derived from the children themselves: a child parameter is filled from the root parameter of the
same name if there is one, otherwise from the sibling output of that name (names shared in ``common``). A
child parameter nobody provides stops the build.
"""

from __future__ import annotations

from collections.abc import Mapping

from troposphere import GetAtt, Parameter, Ref, Template
from troposphere.cloudformation import Stack

from cloudformation import common
from cloudformation.environments import Environment

# Root outputs: name -> (child stack, description).
OUTPUTS: dict[str, tuple[str, str]] = {
    common.SERVICE_URL: ("ServiceStack", "Public URL of the service"),
    common.CLUSTER_NAME: ("ServiceStack", "ECS cluster name"),
    common.SERVICE_NAME: ("ServiceStack", "ECS service name"),
    common.DATABASE_ENDPOINT: ("DatabaseStack", "Database host name"),
    common.DATABASE_SECRET_ARN: ("DatabaseStack", "Secret holding the database master credentials"),
    common.ALARM_TOPIC_ARN: ("AlarmsStack", "SNS topic the alarms notify"),
}


class UnwiredParameter(ValueError):
    """A child stack declares a parameter that neither the root nor a sibling provides."""


def _add_parameters(t: Template, env: Environment, urls_are_parameters: bool) -> dict[str, Parameter]:
    params = {
        common.IMAGE_TAG: common.add_string_parameter(
            t,
            common.IMAGE_TAG,
            "Image tag to deploy (the commit SHA the pipeline pushed)",
            AllowedPattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$",
        ),
        common.IMAGE_REPOSITORY_NAME: common.add_string_parameter(
            t,
            common.IMAGE_REPOSITORY_NAME,
            "ECR repository (created by the bootstrap stack) holding the image",
            Default=common.DEFAULT_IMAGE_REPOSITORY_NAME,
        ),
        common.CERTIFICATE_ARN: common.add_string_parameter(
            t,
            common.CERTIFICATE_ARN,
            "ACM certificate ARN for HTTPS; empty serves plain HTTP",
            Default=env.certificate_arn or "",
        ),
    }
    if urls_are_parameters:
        for stack in common.CHILD_STACKS:
            name = common.template_url_parameter(stack)
            params[name] = common.add_string_parameter(
                t,
                name,
                f"URL of the {stack.removesuffix('Stack').lower()} template (uploaded by the deploy tool)",
            )
    return params


def _wire(
    stack: str,
    child: Template,
    root_params: Mapping[str, Parameter],
    producers: Mapping[str, str],
) -> dict[str, object]:
    wired: dict[str, object] = {}
    for name in sorted(child.parameters):
        if name in root_params:
            wired[name] = Ref(root_params[name])
        elif name in producers and producers[name] != stack:
            wired[name] = GetAtt(producers[name], f"Outputs.{name}")
        else:
            raise UnwiredParameter(f"parameter {name} of {stack} is provided by neither the root nor a sibling")
    return wired


def build_template(
    env: Environment,
    children: Mapping[str, Template],
    *,
    template_urls: Mapping[str, str] | None = None,
) -> Template:
    """Build the root stack for ``env`` over ``children`` (logical id -> child template).

    Template URLs are root parameters unless ``template_urls`` (logical id -> URL or local path) is given;
    local paths let cfn-lint open the children and check the parameters passed to them.
    """
    t = Template(Description=f"Orca {env.name}: root stack (network, database, service, autoscaling, alarms)")
    root_params = _add_parameters(t, env, urls_are_parameters=template_urls is None)
    producers = {output: stack for stack, child in children.items() for output in child.outputs}
    for stack in common.CHILD_STACKS:
        url = Ref(root_params[common.template_url_parameter(stack)]) if template_urls is None else template_urls[stack]
        metadata: dict[str, object] = {}
        if template_urls is not None:
            # Local paths are what cfn-lint needs to open the child; its warning that they only work through
            # `aws cloudformation package` is the point of the exercise, not a finding.
            metadata["cfn-lint"] = {"config": {"ignore_checks": ["W3002"]}}
        nested = Stack(
            stack,
            TemplateURL=url,
            Tags=common.tags(env.name),
        )
        # No StackName: CloudFormation names nested stacks itself and rejects the property on them.
        parameters = _wire(stack, children[stack], root_params, producers)
        if parameters:
            nested.Parameters = parameters
        if metadata:
            nested.Metadata = metadata
        t.add_resource(nested)
    for name, (stack, description) in OUTPUTS.items():
        common.add_output(t, name, description, GetAtt(stack, f"Outputs.{name}"))
    return t
